"""Reading a Gymnasium (or MiniGrid) environment's docstring: the sections a policy writer needs, and its tables.

Gymnasium documents each environment in Markdown: ``## Description``, ``## Action Space``,
``## Observation Space`` (often with a table: Num, Observation, ..., Type (Unit)), ``## Rewards``,
``## Starting State``, ``## Episode End``, and sections a run cannot use (``## Arguments`` for
``gymnasium.make``, ``## Version History``), with figure and HTML markup for the website.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

KEEP = ("description", "action space", "observation space", "rewards", "reward", "starting state", "episode end",
        "episode termination", "termination", "truncation", "notes", "success criteria", "transition dynamics",
        "mission space")
"""Top-level sections kept (lower case, without a trailing colon); their subsections go with them."""

MARKUP = re.compile(r"^\s*(<[/a-zA-Z!]|```\{|:[a-z]+:|!\[|\.\. )")
"""Lines that are website markup: HTML tags, MyST figure directives and options, images, rst directives."""

FENCE = re.compile(r"^\s*```")

USAGE = re.compile(r"^\s*(\$ |>>>|python3? +\S|pip3? +install\b|(from|import) +gym(nasium)?\b)|\bgym(nasium)?\.make\(")
"""A line of a code block that is something to type, not something the environment does: a shell command
(``python .../lunar_lander.py``, ``pip install``), a doctest, ``gymnasium.make(...)``. Such a block goes (a block
of equations or a citation stays)."""

UNUSABLE = re.compile(
    r"\bpython3? +[\w./-]+\.py\b"                     # running a script
    r"|\bgym(nasium)?\.make\b|\bby passing\b|\bduring construction\b|\bArguments? section\b"  # construction arguments
    r"|\brender_mode\b|\bwhen rendering\b"             # rendering
    r"|\bplay (it )?yourself\b|\bkeyboard\b|\bpip3? install\b"  # human play, installing
    r"|\bmujoco-py\b",                                 # the old binding earlier versions ran on
    re.IGNORECASE)
"""Sentences that tell a person how to run, render, play or configure the environment: a policy can act on none of
it (its environment is made for it, without rendering)."""

ASIDE = re.compile(r"\s*\((see|cf\.?)\b[^()]*\)")
"""A parenthetical pointer, e.g. "(see `is_slippery` in Argument section)": only the pointer goes when it is unusable."""

SENTENCE_END = re.compile(r"[.!?:](?=\s+[A-Z`\"'(\[*]|\s*$)")


def clean(doc: str) -> str:
    """The docstring without the sections a run cannot use, without website markup, and without what a policy
    cannot act on: commands to type (a code block of shell commands or ``gymnasium.make`` calls and the sentence
    introducing it) and sentences about running scripts, rendering, playing by hand or construction arguments."""
    kept, keep, directive, fence = [], True, False, False
    for line in doc.splitlines():
        if directive:  # inside a ```{figure} ... ``` block
            directive = line.strip() != "```"
            continue
        if line.lstrip().startswith("```{"):
            directive = True
            continue
        heading = None if fence else re.match(r"^\s*(#{1,2})\s+(.*)$", line)
        if heading:
            keep = heading.group(2).strip().rstrip(":").strip().lower() in KEEP
        if FENCE.match(line):
            fence = not fence
        if keep and not MARKUP.match(line):
            kept.append(line)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(_usable(kept))).strip()
    return text or doc.strip()


def _usable(lines: list[str]) -> list[str]:
    """``lines`` without usage blocks, their lead-in sentences and unusable sentences (see :func:`clean`)."""
    units = _units(lines)
    out: list[list[str]] = []
    for kind, unit in units:
        if kind == "code":
            if any(USAGE.search(line) for line in unit):
                prose = next((i for i in range(len(out) - 1, -1, -1) if any(line.strip() for line in out[i])), None)
                if prose is not None and out[prose][-1].rstrip().endswith(":") and _unit_kind(out[prose]) == "prose":
                    out[prose] = _sentences_without(out[prose], last=True)
                continue
            out.append(unit)
        elif kind == "prose":
            out.append(_sentences_without(unit))
        else:
            out.append(unit)
    return [line for unit in out for line in unit]


def _unit_kind(unit: list[str]) -> str:
    first = unit[0] if unit else ""
    if FENCE.match(first):
        return "code"
    if not first.strip() or first.lstrip().startswith(("|", "#")):
        return "other"
    return "prose"


def _units(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Lines grouped into code blocks, prose paragraphs (a list item starts one of its own) and single other
    lines (blank lines, headings, table rows)."""
    units: list[tuple[str, list[str]]] = []
    code: list[str] | None = None
    for line in lines:
        if code is not None:
            code.append(line)
            if FENCE.match(line):
                units.append(("code", code))
                code = None
            continue
        if FENCE.match(line):
            code = [line]
            continue
        kind = _unit_kind([line])
        item = re.match(r"^\s*([-*+]|\d+[.)])\s", line)
        if kind == "prose" and units and units[-1][0] == "prose" and not item:
            units[-1][1].append(line)
        else:
            units.append((kind, [line]))
    if code is not None:
        units.append(("code", code))
    return units


def _sentences_without(unit: list[str], last: bool = False) -> list[str]:
    """A prose paragraph without its unusable sentences (and, with ``last``, without its last sentence), line
    breaks kept; an unusable pointer in parentheses goes alone. Returns [] when nothing is left."""
    original = "\n".join(unit)
    text = ASIDE.sub(lambda m: "" if UNUSABLE.search(m.group(0)) else m.group(0), original)
    cuts = [0] + [m.end() for m in SENTENCE_END.finditer(text)]
    if cuts[-1] < len(text):
        cuts.append(len(text))
    sentences = [text[a:b] for a, b in itertools.pairwise(cuts)]
    if last and sentences:
        sentences = sentences[:-1]
    kept = "".join(s for s in sentences if not UNUSABLE.search(s))
    if kept == original:
        return unit
    lead = re.match(r"\s*", text).group(0)
    kept = lead + kept.lstrip()
    return [line.rstrip() for line in kept.split("\n") if line.strip()]


@dataclass(frozen=True)
class Row:
    index: int
    meaning: str
    name: str = ""
    """The joint or body name in the model's XML file, where the table gives one."""
    units: str = ""
    kind: str = ""
    """The Type column without its unit, e.g. "angular velocity"."""

    @property
    def identifier(self) -> str:
        """A name for prompts and digests: the XML name plus ``_vel`` for a velocity (``thigh_joint_vel``),
        else the meaning in snake case (``cart_position``)."""
        base = self.name.split(" ")[0] if self.name else self.meaning
        slug = re.sub(r"[^0-9a-zA-Z]+", "_", base).strip("_").lower() or f"obs_{self.index}"
        return slug + ("_vel" if self.name and "velocity" in self.kind else "")


def table(doc: str, column: str) -> dict[int, Row]:
    """The rows of the first Markdown table whose second column is ``column`` ("Observation", "Action"),
    by their integer Num (rows such as "excluded" are skipped)."""
    lines = doc.splitlines()
    for start, line in enumerate(lines):
        cells = _cells(line)
        if len(cells) < 2 or cells[0].lower() != "num" or not cells[1].lower().startswith(column.lower()):
            continue
        header = [c.lower() for c in cells]
        name_at = next((i for i, c in enumerate(header) if c.startswith("name")), None)
        unit_at = next((i for i, c in enumerate(header) if "unit" in c), None)
        rows: dict[int, Row] = {}
        for row in lines[start + 1:]:
            cells = _cells(row)
            if not cells:
                break
            if not cells[0].isdigit():
                continue
            unit = cells[unit_at] if unit_at is not None and unit_at < len(cells) else ""
            rows[int(cells[0])] = Row(int(cells[0]), cells[1],
                                      cells[name_at] if name_at is not None and name_at < len(cells) else "",
                                      _unit(unit), re.sub(r"\s*\(.*\)", "", unit).strip())
        return rows
    return {}


def _cells(line: str) -> list[str]:
    line = line.strip()
    if not line.startswith("|"):
        return []
    return [c.strip() for c in line.strip("|").split("|")]


def _unit(text: str) -> str:
    """"angle (rad)" -> "rad"; text without parentheses stays as it is."""
    found = re.search(r"\(([^)]*)\)", text)
    return found.group(1) if found else text
