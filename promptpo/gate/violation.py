"""What the gate reports: a violation (line, rule, what was wrong), and the characters no program may hold."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from promptpo.text import HIDDEN


@dataclass(frozen=True)
class Violation:
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.detail} ({self.rule})"


def characters(code: str) -> list[Violation]:
    """Invisible or reordering characters, and carriage returns that are not part of a CRLF (``cat`` and
    terminals draw the text after a lone CR over the line's start, hiding what runs)."""
    found = []
    for number, line in enumerate(code.split("\n"), 1):
        if "\r" in (line[:-1] if line.endswith("\r") else line):
            found.append(Violation(number, "carriage_return", "a carriage return inside a line (it hides the text "
                                   "before it when the file is shown)"))
        for ch in line:
            if ch in "\t\r" or unicodedata.category(ch) not in HIDDEN:
                continue
            name = unicodedata.name(ch, f"U+{ord(ch):04X}")
            found.append(Violation(number, "invisible_character",
                                   f"the invisible or reordering character U+{ord(ch):04X} {name}"))
            break
    return found
