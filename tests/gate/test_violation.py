"""promptpo.gate.violation: the characters no program may hold (invisible, reordering, a lone carriage return)."""

from __future__ import annotations

import pytest

from promptpo.gate.violation import Violation, characters


def test_a_violation_says_its_line_detail_and_rule():
    assert str(Violation(3, "carriage_return", "a carriage return")) == "line 3: a carriage return (carriage_return)"


def test_plain_code_tabs_and_crlf_line_ends_pass():
    assert characters("def f(x):\n\treturn x  # ok\n") == []
    assert characters("a = 1\r\nb = 2\r\n") == []
    assert characters("name = 'café — ☃ 中文'\n") == []


def test_a_lone_carriage_return_inside_a_line():
    found = characters("x = 1\nsafe = 1\rrm = 2\n")
    assert [(v.line, v.rule) for v in found] == [(2, "carriage_return")]
    assert [(v.line, v.rule) for v in characters("a\r\r\nb")] == [(1, "carriage_return")]


@pytest.mark.parametrize("ch, name", [("\u202e", "RIGHT-TO-LEFT OVERRIDE"), ("\u2066", "LEFT-TO-RIGHT ISOLATE"),
                                      ("\u200b", "ZERO WIDTH SPACE"), ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
                                      ("\u2028", "LINE SEPARATOR"), ("\x0c", "U+000C"), ("\x00", "U+0000"),
                                      ("\ue000", "U+E000")])
def test_invisible_and_reordering_characters(ch, name):
    [found] = characters(f"x = 1\ny = '{ch}'\n")
    assert (found.line, found.rule) == (2, "invisible_character")
    assert found.detail == f"the invisible or reordering character U+{ord(ch):04X} {name}"


def test_one_invisible_character_per_line_but_every_line():
    found = characters("a = '\u200b\u202e'\nb = 1\nc = '\u2066'\n")
    assert [v.line for v in found] == [1, 3]
    assert "U+200B" in found[0].detail


def test_a_line_with_both_a_lone_cr_and_a_hidden_character_reports_both():
    found = characters("a = 1\r# \u202e\n")
    assert {v.rule for v in found} == {"carriage_return", "invisible_character"}
