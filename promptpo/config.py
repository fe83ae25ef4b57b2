"""Run configuration: one dataclass, a docstring per field, validated once."""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from promptpo.errors import ConfigError, fields_at_least_one
from promptpo.isolation.base import Limits
from promptpo.llm.base import GenParams

MODEL_ENV = "PROMPTPO_MODEL"
NO_MODEL_NOTICE = ("no model configured: using the offline proposer (CMA-ES over a program built from the env spec, "
                   "no LLM). To use an LLM pass --model (e.g. openai/gpt-4o, anthropic:claude-sonnet-4-5, manual) "
                   f"or set {MODEL_ENV}.")


@dataclass
class Budgets:
    """Hard limits for a run; None means no limit. Each is checked before it could be exceeded."""

    max_llm_calls: int | None = None
    """LLM calls, repairs included."""
    max_env_steps: int | None = None
    """Simulator steps over all evaluations. A candidate is only started if its worst case
    (episodes x horizon) still fits."""
    max_cost: float | None = None
    """USD. A call is only made if its worst case (prompt + max_tokens at the model's price) fits;
    for models without a known price only the spent cost is checked."""
    max_time: float | None = None
    """Wall-clock seconds for the whole run."""


@dataclass
class OptimizeConfig:
    env: str
    """Environment id, e.g. metaworld/reach or gymnasium/CartPole-v1."""
    model: str | None = None
    """LLM backend string; falls back to $PROMPTPO_MODEL, then to the offline proposer."""
    rounds: int = 10
    """Refinement rounds (round 0 writes from scratch, later rounds refine)."""
    candidates: int = 4
    """Candidates per round, each its own LLM call."""
    episodes: int = 5
    """Evaluation episodes per candidate, run in lock-step."""
    seed: int = 0
    """Run seed: fixes the evaluation episodes (seeds, goal variations) and the worker's RNG."""
    sandbox: str = "process"
    """Isolation backend: process (bubblewrap) or docker."""
    max_repairs: int = 2
    """Repair prompts allowed after a candidate that cannot be scored (syntax error, crash, limit)."""
    target: float | None = None
    """Stop once the best candidate reaches this (success rate where the env defines success,
    mean return otherwise); default: the environment's own target."""
    tune_constants: bool = False
    """After each round, tune the best program's numeric constants with CMA-ES (no LLM call)."""
    tune_evals: int = 30
    """Evaluations each constant-tuning phase may spend (they count against --max-env-steps)."""
    prompt_budget: int = 12000
    """Approximate tokens per prompt; the history is trimmed to fit."""
    out: Path = Path("runs")
    """Folder that receives the run folder."""
    budgets: Budgets = field(default_factory=Budgets)
    gen: GenParams = field(default_factory=GenParams)
    limits: Limits = field(default_factory=Limits)

    def resolved_model(self) -> str:
        """--model, else $PROMPTPO_MODEL, else the offline proposer (no LLM)."""
        return self.model or os.environ.get(MODEL_ENV) or "offline"

    def validate(self) -> OptimizeConfig:
        fields_at_least_one(self, ("rounds", "candidates", "episodes", "prompt_budget", "tune_evals"))
        if self.max_repairs < 0:
            raise ConfigError(f"--max-repairs must be 0 or more (got {self.max_repairs})")
        b = self.budgets
        for name in ("max_llm_calls", "max_env_steps", "max_cost", "max_time"):
            value = getattr(b, name)
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number (got {value})")
        t = self.gen.temperature
        if self.gen.timeout_s <= 0 or self.gen.max_tokens < 1 or (t is not None and not 0 <= t <= 2):
            raise ConfigError("--llm-timeout and --max-tokens must be positive and --temperature in [0, 2]")
        return self

    def public(self) -> dict:
        data = asdict(self)
        data["out"] = str(self.out)
        data["gen"] = self.gen.public()
        return data


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '2h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise ConfigError(f"cannot read the duration {text!r}", "use seconds or a unit, e.g. 90, 30m, 2h")
    value = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if value <= 0:
        raise ConfigError(f"the duration {text!r} must be positive")
    return value
