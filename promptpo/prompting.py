"""Rendering prompts from prompts/*.j2 (the only place prompt text lives).

Every task kind has the same four prompts — first, refine, repair and (for the offline proposer) a
note of what was asked — from its own templates: ``<prefix>system.j2``, ``<prefix>first.j2``,
``<prefix>refine.j2``, ``<prefix>repair.j2`` and the candidate macro ``_<prefix>candidate.j2``.
The refinement prompt carries the history of earlier candidates within a budget: the parent, the
best ones, the latest round and one representative of each kind of failure, in that order of
priority, with code while it fits and as a one-line summary after; what is left out is named.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2

from promptpo.candidate import Candidate, ranked
from promptpo.errors import ConfigError
from promptpo.llm import tokens
from promptpo.llm.base import Message
from promptpo.resources import data_dir

BEST_SHOWN = 3
REFLECTED = {"PARENT", "latest round"}
ENTRY_SLACK = 16
"""Tokens an entry takes in the rendered prompt beyond its own text (line breaks around it)."""
LEARNED_SHOWN = 3
TUNING_SHOWN = 3
"""The latest constant-tuning phases a refinement prompt reports."""
"""The latest --reflect answers a refinement prompt shows."""
"""The history entries whose analysis (the model's own reasoning when it wrote them) a prompt shows."""


@dataclass(frozen=True)
class Prompt:
    kind: str
    """first, refine, repair, proposal (offline) or online"""
    messages: tuple[Message, ...]
    parent: str | None = None
    dropped: tuple[str, ...] = ()
    """Earlier candidates the prompt left out entirely."""
    summarised: tuple[str, ...] = ()
    """Earlier candidates it shows only as a one-line summary (no code, episodes or digest)."""
    base: str | None = None
    """The program its answer may edit with SEARCH/REPLACE blocks (promptpo.edits), if the run takes edits."""

    @property
    def chars(self) -> int:
        return sum(len(m.content) for m in self.messages)

    @property
    def tokens(self) -> int:
        """Its size as the run records it (promptpo.llm.tokens), which --prompt-budget bounds."""
        return tokens.count_messages(self.messages)


@dataclass
class Recap:
    """One earlier candidate as a prompt shows it (the template _candidate.j2 lays it out): every field a line or
    lines of text, worded by the task kind (promptpo.policy.feedback.build for a policy, ScheduleTask.recap for a schedule)."""


    id: str
    parent: str | None
    kind: str
    outcome: str
    score: str
    """One line: mean ± std return, success rate; or why there is no score."""
    code: str
    episodes: list[str] = field(default_factory=list)
    digest: list[str] = field(default_factory=list)
    error: str = ""
    traceback: str = ""
    output: str = ""
    findings: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    """BEST, PARENT, LATEST, ... shown next to the id."""
    stage: str = ""
    """How a cascade's first stage went (promptpo.policy.cascade), or ''."""
    answer: str = ""
    """The start of an answer no program could be read from."""
    digest_of: str = ""
    """Which episodes the digest shows (promptpo.policy.feedback.notable_episodes)."""
    analysis: str = ""
    """The model's own analysis when it wrote the candidate (shown for the parent and the latest round)."""
    tuned: list[str] = field(default_factory=list)
    """For tuned candidates: 'KP: 0.5 -> 9.7' per changed constant ('line 12: ...' in runs from before
    TUNABLE)."""
    notes: list[str] = field(default_factory=list)
    """The model's own feedback function's note per episode (promptpo.policy.summarizer)."""
    notes_of: str = ""
    """Whose Feedback class wrote them."""
    notes_problem: str = ""
    """Why a feedback function tried on this candidate failed, or ''."""
    notes_traceback: str = ""


@dataclass
class Entry:
    recap: Recap
    full: bool = True


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(data_dir("prompts")), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters["fenced"] = fenced
    from promptpo import gate

    env.globals["gate"] = {"forbidden_builtins": gate.forbidden_text(), "left_out": gate.left_out_text()}
    """What the gate refuses, as every system prompt says it (prompts/_gate.j2): one statement for every kind."""
    return env


BACKTICKS = re.compile(r"`+")


def fenced(text: object, info: str = "") -> str:
    """``text`` as a Markdown code block whose fence is longer than any run of backticks in it, so nothing inside
    (a program, an answer, a traceback, a library example) can close it and write prompt text of its own."""
    body = str(text)
    longest = max((len(run) for run in BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body.rstrip(chr(10))}\n{fence}"


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context).strip() + "\n"


class PromptBook:
    def __init__(self, prefix: str, context: dict[str, Any], system: dict[str, Any],
                 describe: Callable[[Candidate, list[str]], Any], budget_tokens: int = 12000, edit: str = "auto",
                 reflection: bool = True):
        """``context``: what the kind's templates read; ``system``: what its system template reads;
        ``describe(candidate, labels)``: the Recap a template renders for one candidate; ``edit``: the
        answer forms taken (promptpo.edits.MODES); ``reflection``: show the model's own analysis of the parent
        and the latest round."""
        self.prefix, self.context, self.system, self.describe = prefix, context, system, describe
        self.budget_tokens, self.edit, self.reflection = budget_tokens, edit, reflection
        self.learned: list[tuple[int, str]] = []
        """(round, text): what the model said each round taught it (--reflect), shown in later refinements."""
        self.tuning_log: list[str] = []
        """What each constant-tuning phase did (promptpo.policy.tuning), shown in later refinements."""

    def _described(self, candidate: Candidate, labels: list[str]) -> Any:
        """The candidate's feedback; its analysis only where reflection shows it (the parent, the latest round)."""
        fb = self.describe(candidate, labels)
        if not (self.reflection and REFLECTED & set(labels)) and hasattr(fb, "analysis"):
            fb.analysis = ""
        return fb

    def render(self, name: str, **extra: Any) -> str:
        return render(f"{self.prefix}{name}.j2", **self.context, edit=self.edit, learned=self.learned[-LEARNED_SHOWN:],
                      tuning_log=self.tuning_log[-TUNING_SHOWN:], **extra)

    def messages(self, user: str, system: str = "system") -> tuple[Message, ...]:
        return (Message("system", render(f"{self.prefix}{system}.j2", edit=self.edit, **self.system)),
                Message("user", user))

    def _base(self, candidate: Candidate | None) -> str | None:
        return candidate.code if self.edit != "full" and candidate is not None and candidate.code else None

    def proposal(self, round_: int, slot: int) -> Prompt:
        """For proposers that read no prompt (offline): a note of what was asked, for the records."""
        note = f"offline proposer: round {round_} (one CMA-ES generation), sample {slot}; no LLM, no prompt"
        return Prompt("proposal", (Message("user", note),))

    def first(self, slot: int = 0) -> Prompt:
        return Prompt("first", self.messages(self.render("first", slot=slot)))

    def repair(self, failed: Candidate, edited: Candidate | None = None) -> Prompt:
        """``edited``: the program a failed edit answer was to change (its own code when it has some)."""
        own = failed if failed.code else edited
        base = self._base(own)
        shown = base if base is not None and own is not failed else None
        user = self.render("repair", failed=self._described(failed, []), base_id=own.id if base else None,
                           base_code=shown)
        return Prompt("repair", self.messages(user), parent=failed.id, base=base)

    def review(self, history: list[Candidate], round_: int) -> Prompt:
        """--reflect: the round's candidates (code, episodes, digests, notes) and a request to say, without code, what
        they taught."""
        macro = environment().get_template(f"_{self.prefix}candidate.j2").module.candidate
        best = ranked(history)
        best = self.describe(best[0], []) if best else None
        empty = render("reflect.j2", round=round_, entries=[], dropped=[], best=best)
        left = self.budget_tokens - tokens.count_messages(self.messages(empty))
        entries, dropped = [], []
        for c in (c for c in history if c.round == round_):  # in full while they fit, then as a summary, then left out
            fb = self._described(c, ["latest round"])
            sized = ((t, tokens.count(t) + ENTRY_SLACK) for t in (macro(fb, full) for full in (True, False)))
            text, size = next(((t, n) for t, n in sized if n <= left), (None, 0))
            if text is None:
                dropped.append(c.id)
            else:
                entries.append(text)
                left -= size
        user = render("reflect.j2", round=round_, entries=entries, dropped=dropped, best=best)
        return Prompt("reflect", self.messages(user), dropped=tuple(dropped))

    def refine(self, history: list[Candidate], parent: Candidate, inspirations: list[Candidate] = (),
               progress: str = "") -> Prompt:
        """``inspirations``: other strong or different programs the search wants shown next to the parent;
        ``progress``: where the run is (which call or round, how many are left)."""
        note = (f"{len(history)} candidate{'s' if len(history) != 1 else ''} so far, oldest first. The parent is "
                "shown in full; the search's inspirations (if any), the best, the latest round and one failure of each "
                "kind come next, in full or else as a summary while the prompt budget allows; the others may be "
                "summarised or left out.")
        described = self.describe(parent, [])
        empty = self.render("refine", entries=[], dropped=[], history_note=note, parent=described, progress=progress)
        base = tokens.count_messages(self.messages(empty))  # the budget is the whole prompt's, system included
        macro = environment().get_template(f"_{self.prefix}candidate.j2").module.candidate
        _, labels = priorities(history, parent, inspirations)
        size_of = lambda fb, full: tokens.count(macro(fb, full)) + ENTRY_SLACK  # noqa: E731
        parent_size = size_of(self._described(parent, labels[parent.id]), True)
        if base + parent_size > self.budget_tokens:  # the parent is never cut: it is what is asked
            raise ConfigError(f"--prompt-budget {self.budget_tokens} is too small for the environment's description and "
                              f"the code of {parent.id}, the program this prompt asks to improve",
                              f"use --prompt-budget {base + parent_size} or more")
        room = self.budget_tokens - base
        for _ in range(4):  # the list of what was left out takes room too: make room for it and choose again
            entries, dropped = select_history(history, parent, self._described, size_of, room, inspirations)
            user = self.render("refine", entries=entries, dropped=dropped, history_note=note, parent=described,
                               progress=progress)
            over = tokens.count_messages(self.messages(user)) - self.budget_tokens
            if over <= 0:
                break
            room -= over
        summarised = tuple(e.recap.id for e in entries if not e.full)
        return Prompt("refine", self.messages(user), parent=parent.id, dropped=tuple(dropped), summarised=summarised,
                      base=self._base(parent))


def select_history(history: list, parent, describe, size_of, budget: int,
                   inspirations=()) -> tuple[list[Entry], list[str]]:
    """Which earlier candidates a refinement prompt shows, in full or as a summary, within a budget.

    Priority: the parent, the search's inspirations, the best, the latest round, the latest failure of each kind, the next best
    few, then the rest newest first. ``describe(candidate, labels)`` gives the feedback object to render;
    ``size_of(feedback, full)`` its rendered size in tokens. Returns the entries (oldest first) and the
    ids left out."""
    order = {c.id: i for i, c in enumerate(history)}
    priority, labels = priorities(history, parent, inspirations)
    left = budget
    chosen: list[Entry] = []
    for c in priority:
        entry = Entry(describe(c, labels[c.id]), full=True)
        if c is parent:  # always in full (PromptBook.refine checked that it fits)
            left -= size_of(entry.recap, True)
            chosen.append(entry)
            continue
        for full in (True, False):
            entry.full = full
            size = size_of(entry.recap, full)
            if size <= left:
                left -= size
                chosen.append(entry)
                break
    shown = {e.recap.id for e in chosen}
    chosen.sort(key=lambda e: order.get(e.recap.id, 0))
    return chosen, [c.id for c in history if c.id not in shown]


def priorities(history: list, parent, inspirations=()) -> tuple[list, dict[str, list[str]]]:
    """The candidates in the order a refinement prompt keeps them, and each one's labels."""
    labels: dict[str, list[str]] = {}
    priority: list = []

    def want(c, label: str) -> None:
        labels.setdefault(c.id, []).append(label)
        if c not in priority:
            priority.append(c)

    want(parent, "PARENT")
    for c in inspirations:
        want(c, "INSPIRATION: a strong or different program")
    top = ranked(history)[:BEST_SHOWN]
    def rank_label(i: int, c) -> str:  # a stopped candidate ranks below every complete one, whatever its mean
        return (("BEST" if i == 1 else f"rank {i}") if c.complete
                else f"rank {i}: stopped after its first stage, so below every complete candidate")

    if top:
        want(top[0], rank_label(1, top[0]))
    latest_round = max(c.round for c in history)
    for c in history:  # what the last answers did comes before the runners-up: the prompt promises it
        if c.round == latest_round:
            want(c, "latest round")
    seen_failures: set[str] = set()
    for c in reversed(history):
        if not c.scored and str(c.outcome) not in seen_failures:
            seen_failures.add(str(c.outcome))
            want(c, f"latest {c.outcome}")
    for i, c in enumerate(top[1:], start=2):
        want(c, rank_label(i, c))
    for c in reversed(history):  # the rest, newest first, while the budget lasts
        if c not in priority:
            labels[c.id] = []
            priority.append(c)
    return priority, labels
