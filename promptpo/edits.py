"""Edit answers: SEARCH/REPLACE blocks against the program a prompt asked the model to change.

    <<<<<<< SEARCH
    (lines copied exactly from the program)
    =======
    (the lines that replace them)
    >>>>>>> REPLACE

``--edit auto`` (the default) takes either a whole program or blocks against the program the prompt names,
``full`` whole programs only (an answer of blocks is a ``bad_edit`` that says so), ``diff`` blocks only when the
prompt names a program to edit. Blocks apply in order, each to the program as the blocks before it
left it; a SEARCH text must occur there exactly once. A block that cannot be applied makes the answer a
``bad_edit`` candidate, whose repair prompt names the block. The recorded code is the applied result (the raw
answer stays in llm/). Nothing here runs the code.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING
from dataclasses import dataclass

from promptpo.outcome import Outcome

if TYPE_CHECKING:
    from promptpo.extract import Extracted

MODES = ("full", "diff", "auto")
SEARCH = re.compile(r"[ \t]*<{7}[ \t]*SEARCH[ \t]*")
DIVIDER = re.compile(r"[ \t]*={7}[ \t]*")
REPLACE = re.compile(r"[ \t]*>{7}[ \t]*REPLACE[ \t]*")
SHOWN = 80
"""Characters of a SEARCH text a message quotes."""


@dataclass(frozen=True)
class Edit:
    search: str
    replace: str

    def quoted(self) -> str:
        first = next((line.strip() for line in self.search.splitlines() if line.strip()), "")
        return repr(first[:SHOWN] + ("..." if len(first) > SHOWN else ""))


class EditError(ValueError):
    pass


def blocks(answer: str) -> tuple[list[Edit], bool]:
    """The complete SEARCH/REPLACE blocks of ``answer``, in order (inside a code fence or not), and whether it has
    any marker at all. One pass over its lines, in time linear in its length whatever markers it holds: a SEARCH
    line starts a block (a new one drops an unfinished one), the first divider after it ends the search text, and
    the first REPLACE line after that ends the block."""
    found: list[Edit] = []
    marked = False
    state, search, replace = "out", [], []
    for line in answer.split("\n"):
        if SEARCH.fullmatch(line):
            marked, state, search, replace = True, "search", [], []
        elif state == "search" and DIVIDER.fullmatch(line):
            state = "replace"
        elif state == "replace" and REPLACE.fullmatch(line):
            found.append(Edit("".join(f"{l}\n" for l in search), "".join(f"{l}\n" for l in replace)))
            marked, state = True, "out"
        elif state == "search":
            search.append(line)
        elif state == "replace":
            replace.append(line)
        elif REPLACE.fullmatch(line):
            marked = True
    return found, marked


def apply(program: str, edits: list[Edit]) -> str:
    """``program`` with ``edits`` applied in order; EditError names the first block that does not apply."""
    for number, edit in enumerate(edits, 1):
        where = f"edit block {number} of {len(edits)} (SEARCH starting {edit.quoted()})"
        if not edit.search.strip():
            raise EditError(f"{where} has an empty SEARCH text: copy the lines to replace from the program")
        found = program.count(edit.search)
        if found != 1:
            hint = ("copy the program's lines exactly, indentation and all" if not found and _loosely_in(edit.search, program)
                    else "copy lines that occur in the program" + (" as the blocks before it left it" if number > 1 else "")
                    if not found else "include enough surrounding lines to make it unique")
            raise EditError(f"{where} occurs {found} times in the program it edits, not once: {hint}")
        program = program.replace(edit.search, edit.replace, 1)
    return program


def _loosely_in(search: str, program: str) -> bool:
    """The SEARCH text is there when whitespace is ignored (the usual mistake: re-indented lines)."""
    squash = lambda text: re.sub(r"\s+", " ", text).strip()  # noqa: E731
    return squash(search) in squash(program)


def read_answer(answer: str, base: str | None, mode: str, entry: str = "policy", gated: bool = True) -> Extracted:
    """The program an answer gives: its edits applied to ``base`` (the program its prompt named), or the whole
    program it wrote, as ``mode`` allows."""
    from promptpo.extract import MAX_ANSWER_CHARS, Extracted, check_program, extract  # the gate: not at CLI start-up

    if len(answer) > MAX_ANSWER_CHARS:
        return extract(answer, entry, gated)
    edits, marked = blocks(answer)
    if mode == "full" or base is None:
        whole = extract(answer, entry, gated)
        if marked and not whole.code:  # blocks where a whole program was asked for: say so, not "no code"
            return Extracted("", Outcome.BAD_EDIT, "this answer gives SEARCH/REPLACE blocks, but "
                             + ("this run takes whole programs (--edit full)" if mode == "full" else
                                "this prompt names no program to edit") + ": write the complete program in one "
                             "```python block")
        return whole
    if not edits:
        if marked:
            return Extracted("", Outcome.BAD_EDIT, "the answer has SEARCH/REPLACE markers but no complete block: "
                             "write <<<<<<< SEARCH, the lines, =======, their replacement, >>>>>>> REPLACE")
        if mode == "diff":
            return Extracted("", Outcome.BAD_EDIT, "this run takes edits, not whole programs: answer with "
                             "SEARCH/REPLACE blocks against the program the prompt names")
        return extract(answer, entry, gated)
    try:
        program = apply(base, edits)
    except EditError as err:
        return Extracted("", Outcome.BAD_EDIT, str(err))
    return dataclasses.replace(check_program(program, entry, gated), form="edits", edits=len(edits))
