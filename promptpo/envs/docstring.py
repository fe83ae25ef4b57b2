"""Reading a Gymnasium environment's docstring: the sections a policy writer needs, and its tables.

Gymnasium documents each environment in Markdown: ``## Description``, ``## Action Space``,
``## Observation Space`` (often with a table: Num, Observation, ..., Type (Unit)), ``## Rewards``,
``## Starting State``, ``## Episode End``, and sections a run cannot use (``## Arguments`` for
``gymnasium.make``, ``## Version History``), with figure and HTML markup for the website.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEEP = ("description", "action space", "observation space", "rewards", "reward", "starting state", "episode end",
        "episode termination", "termination", "truncation", "notes", "success criteria")
"""Top-level sections kept (lower case); their subsections go with them."""

MARKUP = re.compile(r"^\s*(<[/a-zA-Z!]|```\{|:[a-z]+:|!\[|\.\. )")
"""Lines that are website markup: HTML tags, MyST figure directives and options, images, rst directives."""


def clean(doc: str) -> str:
    """The docstring without the sections a run cannot use and without website markup."""
    kept, keep, directive = [], True, False
    for line in doc.splitlines():
        if directive:  # inside a ```{figure} ... ``` block
            directive = line.strip() != "```"
            continue
        if line.lstrip().startswith("```{"):
            directive = True
            continue
        heading = re.match(r"^(#{1,2})\s+(.*)$", line)
        if heading:
            keep = heading.group(2).strip().lower() in KEEP
        if keep and not MARKUP.match(line):
            kept.append(line)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return text or doc.strip()


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
