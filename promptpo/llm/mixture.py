"""Several models in one run: ``--model a --model b@0.3`` (the model string ``a,b@0.3``).

Each call goes to one member, chosen when the call is sent (in slot order, so a run's choices depend only on
its seed and what it recorded, and a resumed run makes the same ones):

``weighted``  by weight (default 1 each), from a generator seeded by the run seed and the call number;
``bandit``    UCB1 over the members' improvement rate: a call improved when its candidate beat its parent
              (or, in round 0, was the run's best when it was recorded). Members not tried yet go first.

Every member answers through its own backend (its retries, tokens and prices); which one answered is in
the call's record (``model``), and the run's summary counts calls, tokens, cost and improvements per member.
"""

from __future__ import annotations

import math
import random
import re
import threading
from dataclasses import dataclass

from promptpo.errors import ConfigError
from promptpo.llm.base import FREE_BACKENDS, Backend, Completion, Request

SELECTIONS = ("weighted", "bandit")
WEIGHT = re.compile(r"\d+(\.\d*)?|\.\d+")
MAX_WEIGHT = 1000
"""A trailing @W is a weight when W is a number up to this; a longer one (a dated version) is part of the name."""


@dataclass
class Member:
    backend: Backend
    weight: float
    calls: int = 0
    """Calls sent to it."""
    credited: int = 0
    """Of its calls, those whose candidate was recorded (what the bandit's rate is over)."""
    improvements: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True

    def record(self) -> dict:
        return {"weight": self.weight, "calls": self.calls, "credited": self.credited,
                "improvements": self.improvements, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "cost_usd": round(self.cost_usd, 6) if self.cost_known else None}


def split_models(model: str) -> list[tuple[str, float]]:
    """``a,b@0.3`` -> [(a, 1.0), (b, 0.3)]; a one-line error for a bad weight."""
    parts = []
    for part in (p.strip() for p in model.split(",")):
        name, at, weight = part.rpartition("@")
        if not at or not WEIGHT.fullmatch(weight) or float(weight) > MAX_WEIGHT:  # e.g. a version: model@20240620
            name, at, weight = part, "", ""
        if not name:
            raise ConfigError(f"empty model in {model!r}", "give --model once per model, e.g. --model a --model b@0.3")
        value = float(weight) if at else 1.0
        if not value > 0:
            raise ConfigError(f"model weight of {name!r} must be a positive number (got {weight})", "write MODEL@0.7")
        parts.append((name, value))
    if len({name for name, _ in parts}) < len(parts):
        raise ConfigError(f"a model is named twice in {model!r}", "give each model once, with a weight if needed")
    return parts


class Mixture(Backend):
    name = "mixture"
    credited = True

    def __init__(self, members: list[tuple[Backend, float]], selection: str = "weighted", seed: int = 0):
        if selection not in SELECTIONS:
            raise ConfigError(f"--model-selection must be weighted or bandit (got {selection!r})")
        super().__init__(",".join(f"{b.label}@{w:g}" if w != 1 else b.label for b, w in members))
        self.members = [Member(b, w) for b, w in members]
        self.selection, self.seed = selection, seed
        self.chosen: dict[int, Member] = {}
        """Call number -> the member that answers it."""
        self.lock = threading.Lock()

    # -- choosing ------------------------------------------------------------------------
    def prepare(self, request: Request) -> None:
        """Choose the member for this call (the engine calls it as the call is sent, in slot order)."""
        member = self._weighted(request.call_index) if self.selection == "weighted" else self._ucb()
        member.calls += 1
        self.chosen[request.call_index] = member

    def _weighted(self, call: int) -> Member:
        rng = random.Random(f"{self.seed}:{call}")
        return rng.choices(self.members, weights=[m.weight for m in self.members])[0]

    def _ucb(self) -> Member:
        untried = [m for m in self.members if m.calls == 0]
        if untried:
            return untried[0]
        total = sum(m.credited for m in self.members)

        def score(m: Member) -> float:
            if m.credited == 0:  # sent, nothing recorded yet: as good as its weight says, until it is
                return math.inf if m.calls <= min(x.calls for x in self.members) else 0.0
            return m.improvements / m.credited + math.sqrt(2 * math.log(max(total, 1)) / m.credited)

        return max(self.members, key=lambda m: (score(m), -m.calls, m.weight))

    def credit(self, call: int, improved: bool) -> None:
        """What the candidate of ``call`` brought (the engine calls it as the candidate is recorded)."""
        member = self.chosen.get(call)
        if member is not None:
            member.credited += 1
            member.improvements += bool(improved)

    # -- the Backend interface -----------------------------------------------------------
    def complete(self, request: Request) -> Completion:
        if request.call_index not in self.chosen:  # a caller that does not prepare its calls
            self.prepare(request)
        return self.chosen[request.call_index].backend.complete(request)

    def account(self, call: int, completion: Completion) -> None:
        """Count an answer (fresh, or recorded before and replayed) for the member that gave it, and name it."""
        member = self.chosen[call]
        completion.extra["member"] = member.backend.label
        if completion.cost_usd is None and member.backend.name in FREE_BACKENDS:
            completion.cost_usd = 0.0
        with self.lock:
            member.prompt_tokens += completion.prompt_tokens
            member.completion_tokens += completion.completion_tokens
            if completion.cost_usd is None:
                member.cost_known = False
            else:
                member.cost_usd += completion.cost_usd

    @property
    def concurrent(self) -> bool:  # type: ignore[override]
        return all(m.backend.concurrent for m in self.members)

    @property
    def uses_prompts(self) -> bool:
        return all(m.backend.uses_prompts for m in self.members)

    def check(self) -> None:
        for m in self.members:
            m.backend.check()

    def estimate_cost(self, prompt_chars: int, max_tokens: int) -> float | None:
        """The dearest member's: a budget check must hold whichever member a call goes to."""
        costs = [m.backend.estimate_cost(prompt_chars, max_tokens) for m in self.members]
        return None if any(c is None for c in costs) else max(costs)

    def summary(self) -> dict:
        return {"selection": self.selection, "members": {m.backend.label: m.record() for m in self.members}}


def models_text(summary: dict) -> str | None:
    """'a: 3 calls, 2 improved, 1,200 out tokens, $0.0100; b: ...' for a run with several models, else None."""
    models = (summary.get("models") or {}).get("members")
    if not models:
        return None
    parts = []
    for label, m in models.items():
        cost = "cost unknown" if m.get("cost_usd") is None else f"${m['cost_usd']:.4f}"
        parts.append(f"{label}: {m['calls']} calls, {m['improvements']} of {m['credited']} improved, "
                     f"{m['prompt_tokens']:,} in / {m['completion_tokens']:,} out tokens, {cost}")
    return f"{summary['models'].get('selection')}: " + "; ".join(parts)
