"""A diff of two programs that stays cheap whatever the programs are: `promptpo diff` and the web view.

Programs come from answers of up to 400,000 characters; diffing (and colouring) two of those can take minutes and,
in the web view, would hold every other request. Past :data:`MAX_LINES` lines or :data:`MAX_CHARS` characters a
side, no diff is computed and the caller says why and how to diff the files instead.
"""

from __future__ import annotations

import difflib

MAX_LINES = 3000
MAX_CHARS = 200_000


def too_large(*texts: str) -> str | None:
    """Why ``texts`` are too large to diff here, or None."""
    for text in texts:
        lines = text.count("\n") + 1
        if lines > MAX_LINES or len(text) > MAX_CHARS:
            return (f"a program of {lines:,} lines and {len(text):,} characters is past what is diffed here "
                    f"({MAX_LINES:,} lines, {MAX_CHARS:,} characters)")
    return None


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    """The unified diff of ``old`` and ``new`` (empty when they are the same); call too_large first."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        old_name, new_name))
