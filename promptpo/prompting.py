"""Rendering prompts from prompts/*.j2 (the only place prompt text lives).

The refinement prompt carries the history of earlier candidates within a budget: the parent,
the best ones, the latest round and one representative of each kind of failure, in that order
of priority, with code while it fits and as a one-line summary after; what is left out is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jinja2

from promptpo.candidate import Candidate
from promptpo.envspec import EnvSpec
from promptpo.extract import ALLOWED_IMPORTS
from promptpo.feedback import build
from promptpo.llm.base import Message
from promptpo.resources import data_dir

CHARS_PER_TOKEN = 4  # the budget is in approximate tokens: 4 characters each
BEST_SHOWN = 3


@dataclass(frozen=True)
class Prompt:
    kind: str
    """first, refine or repair"""
    messages: tuple[Message, ...]
    parent: str | None = None
    dropped: tuple[str, ...] = ()

    @property
    def chars(self) -> int:
        return sum(len(m.content) for m in self.messages)


@dataclass
class Entry:
    feedback: Any
    """What the template renders for one candidate (feedback.Feedback for policies)."""
    full: bool = True


@dataclass
class Prompts:
    spec: EnvSpec
    episodes: int
    act_timeout_s: float
    budget_tokens: int = 12000
    target: str = ""
    _env: jinja2.Environment = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._env = jinja2.Environment(loader=jinja2.FileSystemLoader(data_dir("prompts")),
                                       undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                       keep_trailing_newline=True, autoescape=False)
        self._spec_context = self._spec_view()

    def _render(self, name: str, **context) -> str:
        return self._env.get_template(name).render(spec=self._spec_context, **context).strip() + "\n"

    def _spec_view(self) -> dict:
        s = self.spec
        obs_kind = ("a dict of numpy arrays" if len(s.obs_arrays) > 1 or s.obs_arrays[0].name != "obs"
                    else f"a numpy array of shape {s.obs_arrays[0].shape} ({s.obs_arrays[0].dtype})")
        return {"title": s.title, "id": s.id, "description": s.description, "obs_kind": obs_kind,
                "fields": s.observation, "action": s.action.describe(), "horizon": s.horizon,
                "episodes": self.episodes, "success": s.success_criterion or "",
                "target": self.target or (s.target.describe() if s.target else "as high a mean return as possible"),
                "derived_doc": s.derived_doc, "notes": s.notes, "reward_source": s.reward_source,
                "starter": s.starter.strip()}

    def _messages(self, user: str) -> tuple[Message, ...]:
        system = self._render("system.j2", allowed_imports=", ".join(sorted(ALLOWED_IMPORTS)),
                              act_timeout_s=f"{self.act_timeout_s:g}")
        return (Message("system", system), Message("user", user))

    def proposal(self, round_: int, slot: int) -> Prompt:
        """For proposers that read no prompt (offline): a note of what was asked, for the records."""
        note = f"offline proposer: round {round_} (one CMA-ES generation), sample {slot}; no LLM, no prompt"
        return Prompt("proposal", (Message("user", note),))

    def first(self) -> Prompt:
        return Prompt("first", self._messages(self._render("first.j2")))

    def repair(self, failed: Candidate) -> Prompt:
        user = self._render("repair.j2", failed=build(self.spec, failed))
        return Prompt("repair", self._messages(user), parent=failed.id)

    def refine(self, history: list[Candidate], parent: Candidate) -> Prompt:
        entries, dropped = self._select(history, parent)
        note = (f"{len(history)} candidates so far, oldest first. When the prompt budget is tight the parent, the "
                "best, the latest round and one failure of each kind are kept; others may be summarised or left out.")
        user = self._render("refine.j2", entries=entries, dropped=dropped, history_note=note,
                            parent=build(self.spec, parent))
        return Prompt("refine", self._messages(user), parent=parent.id, dropped=tuple(dropped))

    def _select(self, history: list[Candidate], parent: Candidate) -> tuple[list[Entry], list[str]]:
        base = len(self._render("refine.j2", entries=[], dropped=[], history_note="", parent=build(self.spec, parent)))
        macro = self._env.get_template("_candidate.j2").module.candidate
        return select_history(history, parent, lambda c, labels: build(self.spec, c, labels),
                              lambda fb, full: len(macro(fb, full)), self.budget_tokens * CHARS_PER_TOKEN - base)


def select_history(history: list, parent, describe, size_of, budget_chars: int) -> tuple[list[Entry], list[str]]:
    """Which earlier candidates a refinement prompt shows, in full or as a summary, within a budget.

    Priority: the parent, the best few, the latest round, the latest failure of each kind, then
    the rest newest first. ``describe(candidate, labels)`` gives the feedback object to render;
    ``size_of(feedback, full)`` its rendered length. Returns the entries (oldest first) and the
    ids left out."""
    order = {c.id: i for i, c in enumerate(history)}
    labels: dict[str, list[str]] = {}
    priority: list = []

    def want(c, label: str) -> None:
        labels.setdefault(c.id, []).append(label)
        if c not in priority:
            priority.append(c)

    want(parent, "PARENT")
    scored = sorted((c for c in history if c.scored), key=lambda c: c.rank_key(), reverse=True)
    for i, c in enumerate(scored[:BEST_SHOWN]):
        want(c, "BEST" if i == 0 else f"top {i + 1}")
    latest_round = max(c.round for c in history)
    for c in history:
        if c.round == latest_round:
            want(c, "latest round")
    seen_failures: set[str] = set()
    for c in reversed(history):
        if not c.scored and str(c.outcome) not in seen_failures:
            seen_failures.add(str(c.outcome))
            want(c, f"latest {c.outcome}")
    for c in reversed(history):  # the rest, newest first, while the budget lasts
        if c not in priority:
            labels[c.id] = []
            priority.append(c)

    left = budget_chars
    chosen: list[Entry] = []
    for c in priority:
        entry = Entry(describe(c, labels[c.id]), full=True)
        for full in (True, False):
            entry.full = full
            size = size_of(entry.feedback, full)
            if size <= left:
                left -= size
                chosen.append(entry)
                break
    shown = {e.feedback.id for e in chosen}
    chosen.sort(key=lambda e: order.get(e.feedback.id, 0))
    return chosen, [c.id for c in history if c.id not in shown]
