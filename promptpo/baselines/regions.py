"""PPO's hyperparameter space for the hierarchical search (promptpo.baselines.hrl), and its regions.

Every dimension is searched in unit coordinates u in [0, 1], mapped to a value on its own scale:
log for the learning rate, log of (1 - gamma) for the discount, linear for the entropy coefficient and
clip range, and a choice of rollout lengths (n_steps, with the batch size kept a divisor of the
rollout). A region is the whole cube, or one slab of it: dimension k cut into g equal parts at a few
granularities, the other dimensions free. The regions of one (dimension, granularity) partition the
space; the manager chooses among all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from promptpo.baselines.hyperparams import Hyperparams

GRANULARITIES = (2, 4)
N_STEPS_FACTORS = (0.25, 0.5, 1.0, 2.0)
"""Rollout lengths tried, as multiples of the env's own n_steps (RL Zoo or SB3's 2048)."""


@dataclass(frozen=True)
class Dimension:
    name: str
    low: float
    high: float
    scale: str
    """log, linear, log1m (log of 1 - value: a discount) or choice (N_STEPS_FACTORS)."""

    def value(self, u: float, hp: Hyperparams) -> Any:
        u = min(1.0, max(0.0, float(u)))
        if self.scale == "log":
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        if self.scale == "log1m":
            worst, best = math.log(1 - self.low), math.log(1 - self.high)
            return 1 - math.exp(worst + u * (best - worst))
        if self.scale == "choice":
            factor = N_STEPS_FACTORS[min(len(N_STEPS_FACTORS) - 1, int(u * len(N_STEPS_FACTORS)))]
            return max(8, int(int(hp.values.get("n_steps", 2048)) * factor))
        return self.low + u * (self.high - self.low)

    def describe(self, lo: float, hi: float, hp: Hyperparams) -> str:
        if self.scale == "choice":
            values = sorted({self.value(lo + (hi - lo) * (j + 0.5) / 16, hp) for j in range(16)})
            return f"{self.name} in {{{', '.join(map(str, values))}}}"
        return f"{self.name} in [{self.value(lo, hp):.4g}, {self.value(hi, hp):.4g}]"


SPACE = (Dimension("learning_rate", 1e-5, 1e-2, "log"), Dimension("gamma", 0.9, 0.9999, "log1m"),
         Dimension("ent_coef", 0.0, 0.05, "linear"), Dimension("clip_range", 0.1, 0.4, "linear"),
         Dimension("n_steps", 0.0, 0.0, "choice"))


@dataclass(frozen=True)
class Region:
    index: int
    dimension: int | None
    """The dimension it cuts (None: the whole space)."""
    low: float = 0.0
    high: float = 1.0
    granularity: int = 1

    def bounds(self, k: int) -> tuple[float, float]:
        """Its unit bounds on dimension ``k``."""
        return (self.low, self.high) if k == self.dimension else (0.0, 1.0)

    def contains(self, unit: dict[str, float]) -> bool:
        return all(self.bounds(k)[0] <= unit[d.name] <= self.bounds(k)[1] for k, d in enumerate(SPACE))

    def describe(self, hp: Hyperparams) -> str:
        if self.dimension is None:
            return "the whole space"
        part = round(self.low * self.granularity) + 1
        return f"{SPACE[self.dimension].describe(self.low, self.high, hp)} (part {part} of {self.granularity})"


def regions() -> list[Region]:
    """The whole space, then each dimension cut into each granularity's parts."""
    found = [Region(0, None)]
    for k in range(len(SPACE)):
        for g in GRANULARITIES:
            for i in range(g):
                found.append(Region(len(found), k, i / g, (i + 1) / g, g))
    return found


def hyperparams(unit: dict[str, float], hp: Hyperparams) -> Hyperparams:
    """The env's PPO settings with the searched ones set from unit coordinates."""
    values = {**hp.values, **{d.name: d.value(unit[d.name], hp) for d in SPACE}}
    rollout = int(values["n_steps"]) * int(values.get("n_envs", 1))
    batch = int(values.get("batch_size", 64))
    while rollout % batch:  # SB3 wants the rollout to split into whole minibatches
        batch //= 2
    values["batch_size"] = max(1, min(batch, rollout))
    return Hyperparams(values, hp.source + "; searched by the hierarchical manager", hp.tuned)
