"""Every host-side parser of model text, fed what an attacker would write: each must answer (a result or a reason)
in time linear in the answer's size, and never raise, whatever the nesting and however deep the caller's own
stack already is. The bounds are generous (both cores may be busy); the inputs that broke earlier versions took
a minute for 20 KB (cubic SEARCH/REPLACE parsing) or raised RecursionError (a second parse in a deeper stack).
"""

from __future__ import annotations

import sys
import time

import pytest

from promptpo import gate
from promptpo.views.audit import static_findings
from promptpo.baselines.llm_manager import parse as manager_choice
from promptpo.edits import blocks, read_answer
from promptpo.extract import MAX_ANSWER_CHARS, analysis, extract, python_tree, trust_lines
from promptpo.llm.tokens import count
from promptpo.policy.loader import _entry
from promptpo.policy.summarizer import defines_feedback
from promptpo.schedule.online import parse_decision
from promptpo.text import clean, visible
from promptpo.policy.tuning import declared_tunables

SIZE = MAX_ANSWER_CHARS - 1000
"""Close to the longest answer promptpo reads at all."""
BASE = "def act(obs):\n    return 0\n"


def repeat(unit: str) -> str:
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


ANSWERS = {
    "unmatched_search_markers": repeat("<<<<<<< SEARCH\n"),
    "search_and_dividers_without_replace": repeat("<<<<<<< SEARCH\nx\n=======\n"),
    "dividers_only": repeat("=======\n"),
    "replace_markers_only": repeat(">>>>>>> REPLACE\n"),
    "fences_opening_forever": repeat("```python\n"),
    "fences_of_growing_length": "".join("`" * (3 + i % 50) + "\n" for i in range(SIZE // 30)),
    "one_unclosed_fence_line": "```" + "x" * SIZE,
    "json_fences_with_braces": repeat("```json\n{\n"),
    "braces_only": repeat("{"),
    "brackets_nested_deep": "[" * (SIZE // 2) + "]" * (SIZE // 2),
    "objects_nested_deep": '{"a":' * 20_000 + "1" + "}" * 20_000,
    "unary_chain": "x = " + "-" * SIZE + "1\n",
    "parentheses_nested": "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",
    "binop_chain": "x = " + "0+" * (SIZE // 2 - 4) + "0\n",
    "lists_nested": "x = " + "[" * 3000 + "]" * 3000 + "\n",
    "many_statements": repeat("x = 1\n"),
    "control_characters": repeat("\x1b]52;c;AAAA\x07\x1b[2J\u2028\u202e\ud800"),
}


def within(seconds: float, work):
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    return result


PARSERS = {
    "edit_blocks": lambda text: blocks(text),
    "edit_answer": lambda text: read_answer(text, BASE, "auto"),
    "extract": lambda text: extract(text),
    "analysis": lambda text: analysis(text),
    "online_decision": lambda text: parse_decision(text),
    "manager_choice": lambda text: manager_choice(text, 31),
    "python_tree": lambda text: python_tree(text),
    "gate": lambda text: gate.check(text[:100_000]),
    "feedback_detection": lambda text: defines_feedback(text),
    "tunables": lambda text: declared_tunables(text),
    "audit": lambda text: static_findings(text),
    "entry_point": lambda text: _entry(text),
    "trust_lines": lambda text: trust_lines(text[:100_000], "best.py"),
    "tokens": lambda text: count(text),
    "clean_and_visible": lambda text: visible(clean(text, 10_000)),
}


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_each_parser_answers_in_linear_time_without_raising(parser, answer):
    within(10.0, lambda: PARSERS[parser](ANSWERS[answer]))


def at_depth(depth_left: int, work):
    """Run ``work`` with only ``depth_left`` frames of the interpreter's recursion limit still free."""
    def down(n):
        return work() if n <= 0 else down(n - 1)

    here = len(__import__("inspect").stack(0))
    return down(sys.getrecursionlimit() - here - depth_left)


DEEP_BUT_PARSEABLE = "x = " + "-" * 300 + "1\ndef act(obs):\n    return 0\n"


@pytest.mark.parametrize("parser", ["python_tree", "feedback_detection", "tunables", "audit", "entry_point",
                                    "trust_lines", "extract", "gate", "edit_answer"])
def test_each_python_parse_survives_a_deep_caller_stack(parser):
    """A program that parses at the top of the stack may not parse deeper down (the AST's conversion counts
    the caller's frames): no parse may let the RecursionError out."""
    assert python_tree(DEEP_BUT_PARSEABLE) is not None
    at_depth(40, lambda: PARSERS[parser](DEEP_BUT_PARSEABLE))


def test_the_edit_parser_still_reads_blocks_among_the_noise():
    noise = "<<<<<<< SEARCH\n=======\n" * 1000
    answer = noise + "<<<<<<< SEARCH\n    return 0\n=======\n    return 1\n>>>>>>> REPLACE\n"
    found, marked = within(1.0, lambda: blocks(answer))
    assert marked and [(e.search, e.replace) for e in found] == [("    return 0\n", "    return 1\n")]
    assert read_answer(answer, BASE, "auto").code == "def act(obs):\n    return 1\n"


def test_a_decision_in_deep_json_is_refused_with_a_reason():
    value, why = parse_decision("```json\n" + "[" * 50_000 + "]" * 50_000 + "\n```")
    assert value is None and why
