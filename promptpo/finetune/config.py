"""What one fine-tuning (or off-policy baseline) run is given, and each algorithm's settings."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from promptpo.errors import ConfigError
from promptpo.options import option

ALGOS = ("td3", "sac", "tqc", "ars", "ppo")
OFF_POLICY = ("td3", "sac", "tqc")
INPUTS = ("obs+base", "obs", "obs+base+time", "obs+time")
SCRATCH = {"td3": {"learning_starts": 10_000, "noise_std": 0.1, "learning_rate": 1e-3, "batch_size": 256,
                   "net_arch": [400, 300]},
           "sac": {"learning_starts": 10_000},
           "tqc": {"learning_starts": 10_000}}
"""RL Baselines3 Zoo's MuJoCo settings for a learner from scratch (the rest are SB3's defaults)."""
ZOO_TQC_DROP = {"Hopper-v5": 5}
"""TQC's top_quantiles_to_drop_per_net where the Zoo tunes it."""


@dataclass(frozen=True)
class Base:
    """The program fine-tuned: which run and candidate it is, what it spent, and its code."""

    run: str
    candidate: str
    code: str
    env_steps: int
    """Every env step the run spent to write and tune it (its LLM phase); the fine-tuning's curve starts here."""
    score: float | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.code.encode()).hexdigest()

    def record(self) -> dict:
        return {"run": self.run, "candidate": self.candidate, "sha256": self.sha256, "env_steps": self.env_steps,
                "score": self.score}


@dataclass(frozen=True)
class FinetuneConfig:
    env: str
    steps: int = field(metadata=option("Training env steps per seed."))
    """Training env steps per seed (for a residual: beyond what the base's run spent)."""
    algo: str = field(default="td3", metadata=option("The learner (Stable-Baselines3 or sb3-contrib).",
                                                     choices=ALGOS))
    base: Base | None = None
    """None: the learner from scratch (`promptpo baseline sac|td3|tqc`)."""
    residual_scale: float = field(default=0.1, metadata=option(
        "The largest correction, as a fraction of half the action range on each dimension."))
    """S: the correction is at most S × half the action range on each dimension. 0.1 by measurement
    (benchmarks/residual.py): it steadied Walker2d's best program on both seeds (2,108 and 2,003 against the base's
    1,646 and 1,607) where 0.3 was no gain beyond noise (1,761 against 1,646) and held Hopper's no better; the whole
    range (1, no penalty) made HalfCheetah's 693 program run (6,103 and 4,557) but no faster than TD3 from scratch."""
    inputs: str = field(default="obs+base", metadata=option(
        "What the learner sees: the observation, and the base's action and/or the fraction of the episode gone.",
        choices=INPUTS))
    """What the learner sees: the observation, the base's action ('+base'; residuals only) and the fraction of the
    episode's horizon gone ('+time': a program that keeps a clock acts on more than the observation)."""
    warmup: int = field(default=10_000, metadata=option(
        "Off-policy learners: env steps of the base with a small random correction before any update."))
    """Off-policy residual: env steps of the base with a small Gaussian correction before any update."""
    critic_steps: int = field(default=10_000, metadata=option(
        "Off-policy learners: env steps after the warm-up in which only the critic learns."))
    """Off-policy residual: env steps after the warm-up in which only the critic learns."""
    noise: float = field(default=0.05, metadata=option(
        "The warm-up's and TD3's exploration noise (SAC/TQC: the initial std), in units of the correction."))
    """Off-policy residual: the warm-up's correction noise (and TD3's exploration noise), in units of r."""
    penalty: float = field(default=0.1, metadata=option(
        "TD3 residual: the actor's loss adds this × mean |Q| × mean r², so a correction is kept only where the critic "
        "sees a clear gain (as TD3+BC keeps to the data)."))
    """0: none. The critic's own loss is unchanged; only what the actor maximizes is. 0.1 by measurement
    (benchmarks/residual.py, 100k steps at scale 0.1): without it the actor took Walker2d from 1,080 to 38 and Hopper
    from 1,081 to 206 within 5k actor steps; at 1 it held both programs and improved neither (Walker2d 1,062 vs the
    base's 1,080, Hopper 1,073 vs 1,044: the base kept); at 0.1 Walker2d improved on both seeds (1,124 vs 1,080 and
    1,126 vs 1,036 on fresh episodes, p < 0.01) and Hopper held (1,070 vs 1,044, the base kept)."""
    ramp: int = field(default=0, metadata=option(
        "TD3 residual: training env steps, after the critic-only phase, over which the largest correction grows "
        "from a tenth of --residual-scale to all of it (0: all of it from the start)."))
    """The actor's output is bounded by b · tanh, b growing linearly from RAMP_START to 1 (promptpo.finetune.networks
    .BoundedActor): the critic has seen the corrections near the base before the actor may make large ones. The
    bound is in the actor's weights, so an evaluated, rolled-back or judged actor keeps the bound it was scored
    with."""
    actor_warmup: int = field(default=0, metadata=option(
        "Off-policy residual: training env steps, after the critic-only phase, over which the actor's learning rate "
        "grows from 0 to the learner's (0: all of it at once)."))
    """Adam moves every weight by about the learning rate from its first step, whatever the gradient's size: on the
    zeroed output layer, all at once. Warmed up, the first corrections are as small as the critic is new to them."""
    critic_norm: bool = field(default=False, metadata=option(
        "TD3 residual: LayerNorm after each hidden layer of the critic."))
    """As RLPD, ResFiT and DAWN normalize a residual's critic (promptpo.finetune.networks.NormedCritic)."""
    gamma: float | None = field(default=None, metadata=option(
        "Off-policy learners: the discount (default: the learner's, 0.99)."))
    n_step_returns: int = field(default=1, metadata=option(
        "Off-policy learners: the critic learns from N-step returns (Stable-Baselines3's NStepReplayBuffer)."))
    """With a discount near 1, values reach further back per update: a program's fall hundreds of steps after a
    correction is in the critic's sight before the actor moves (benchmarks/residual.py, ...-nstep5)."""
    rollback: float = field(default=0.1, metadata=option(
        "Restore the best weights when an evaluation falls this fraction of the best's |return| (at least 1) below "
        "it, beyond noise (1e9: never)."))
    """An evaluation this fraction of the best's |return| (at least 1) below the best so far, and worse beyond noise
    (a one-sided Welch t-test against the best's own episodes, p < rollback.ROLLBACK_P), restores the best weights."""
    eval_points: int = field(default=20, metadata=option(
        "Evaluations over --steps when --eval-every is not given (the grid: --steps / N)."))
    eval_every: int | None = field(default=None, metadata=option("Training env steps between evaluations."))
    eval_episodes: int = field(default=10, metadata=option("Episodes per evaluation."))
    judge_episodes: int = field(default=10, metadata=option(
        "Fresh episodes on which the best fine-tuned policy and the base are compared at the end."))
    """Fresh episodes on which the best fine-tuned policy and the base are compared at the end."""
    sandbox: str = field(default="process", metadata=option("Isolation backend of the base program: process or "
                                                             "docker."))
    out: Path = field(default=Path("runs"), metadata=option("Folder holding run folders."))
    options: dict[str, Any] = field(default_factory=dict)
    """Learner keyword arguments that override the defaults (e.g. {'learning_rate': 3e-4})."""

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ConfigError(f"unknown --algo {self.algo!r}", f"choose one of {', '.join(ALGOS)}")
        for name, value in (("--steps", self.steps), ("--eval-points", self.eval_points),
                            ("--eval-episodes", self.eval_episodes), ("--judge-episodes", self.judge_episodes)):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1 (got {value})")
        if not 0 < self.residual_scale <= 2:
            raise ConfigError(f"--residual-scale must be in (0, 2] (got {self.residual_scale})",
                              "0.1 lets the correction move each action by a tenth of its half-range")
        if not self.penalty >= 0:  # NaN too
            raise ConfigError(f"--penalty must be at least 0 (got {self.penalty})")
        if not 0 < self.noise <= 1:
            raise ConfigError(f"--noise must be in (0, 1] (got {self.noise})", "it is a std in units of the correction")
        if not 0 <= self.rollback < math.inf:  # a record holds no inf
            raise ConfigError(f"--rollback must be a number of at least 0 (got {self.rollback})",
                              "0.1 restores the best weights after a fall of a tenth; 1e9 never restores them")
        if not 0 <= self.ramp:
            raise ConfigError(f"--ramp must be at least 0 (got {self.ramp})", "0 gives the whole correction at once")
        if self.ramp and not (self.residual and self.algo == "td3"):
            raise ConfigError(f"--ramp bounds a TD3 residual's actor; this run is {self.method}",
                              "use --algo td3 on a base program, or leave --ramp at 0")
        if self.critic_norm and not (self.residual and self.algo == "td3"):
            raise ConfigError(f"--critic-norm normalizes a TD3 residual's critic; this run is {self.method}",
                              "use --algo td3 on a base program, or leave out --critic-norm")
        if not 0 <= self.actor_warmup:
            raise ConfigError(f"--actor-warmup must be at least 0 (got {self.actor_warmup})",
                              "0 gives the actor the whole learning rate at once")
        if self.actor_warmup and not (self.residual and self.algo in OFF_POLICY):
            raise ConfigError(f"--actor-warmup warms up an off-policy residual's actor; this run is {self.method}",
                              "use --algo td3, sac or tqc on a base program, or leave --actor-warmup at 0")
        if self.gamma is not None and not 0 < self.gamma <= 1:
            raise ConfigError(f"--gamma must be in (0, 1] (got {self.gamma})", "0.99 is the learners' own")
        if self.n_step_returns < 1:
            raise ConfigError(f"--n-step-returns must be at least 1 (got {self.n_step_returns})")
        if (self.gamma is not None or self.n_step_returns > 1) and self.algo not in OFF_POLICY:
            raise ConfigError(f"--gamma and --n-step-returns set an off-policy learner's critic; this run is "
                              f"{self.method}", "use --algo td3, sac or tqc")
        if self.inputs not in INPUTS:
            raise ConfigError(f"unknown --inputs {self.inputs!r}", f"choose one of {', '.join(INPUTS)}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError(f"--eval-every must be at least 1 (got {self.eval_every})")

    @property
    def kind(self) -> str:
        return "finetune" if self.base is not None else self.algo

    @property
    def method(self) -> str:
        return f"promptpo+{self.algo}" if self.base is not None else self.algo

    @property
    def grid(self) -> int:
        return self.eval_every or max(1, self.steps // self.eval_points)

    @property
    def residual(self) -> bool:
        return self.base is not None

    def record(self) -> dict:
        data = asdict(self)
        data["out"] = str(self.out)
        data["base"] = self.base.record() if self.base is not None else None
        return data

    @classmethod
    def from_record(cls, data: dict, base: Base | None, out: Path) -> FinetuneConfig:
        """The config run.json recorded; a value of another type than the field's raises TypeError."""
        import types
        import typing

        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in ("base", "out")}
        hints = typing.get_type_hints(cls)
        for name, value in known.items():
            hint = hints[name]
            union = typing.get_origin(hint) in (typing.Union, types.UnionType)
            kinds = tuple(typing.get_origin(t) or t for t in (typing.get_args(hint) if union else (hint,)))
            wanted = tuple(k for k in kinds if k is not type(None)) + ((int,) if float in kinds else ())
            if (value is None and type(None) in kinds) or (isinstance(value, wanted)
                                                          and (bool in kinds or not isinstance(value, bool))):
                continue
            raise TypeError(f"{name}: {type(value).__name__}")
        return cls(**known, base=base, out=out)
