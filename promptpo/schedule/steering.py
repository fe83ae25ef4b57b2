"""Steering PPO from the sandbox: a hyperparameter schedule, called while the host trains.

A schedule is code the model writes: ``schedule(progress, metrics) -> dict``. It runs in the
sandbox worker (the same trust boundary as policies); PPO trains in the host. Every ``every``
rollouts a Stable-Baselines3 callback sends the training state, checks the answer against the
bounds below, applies what passes and records every call. A schedule that hangs, crashes or
answers nonsense is recorded and switched off; training goes on with the values it had.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from promptpo.text import brief
from promptpo.isolation.base import Limits, Sandbox
from promptpo.outcome import CandidateFault

log = logging.getLogger(__name__)

# What Stable-Baselines3's PPO can change mid-training, and the bounds a schedule must respect.
BOUNDS: dict[str, tuple[float, float]] = {
    "learning_rate": (1e-6, 1e-2),
    "ent_coef": (0.0, 0.1),
    "clip_range": (0.01, 0.5),
    "vf_coef": (0.01, 2.0),
    "max_grad_norm": (0.1, 10.0),
    "target_kl": (1e-4, 0.5),
}
OPTIONAL = {"target_kl"}
"""Hyperparameters that may also be set to None (off)."""


def schedule_template():
    """The parameterised schedule the offline proposer searches (CMA-ES, no LLM)."""
    from promptpo.envspec import ProgramTemplate

    return ProgramTemplate(
        source='''"""Schedule from the promptpo offline proposer (CMA-ES, no LLM): {note}."""

LR_START = 10 ** {LOG_LR}     # learning rate at the start
LR_END_FRACTION = {LR_END}    # fraction of it left at the end (linear in between)
ENT_START = {ENT}             # entropy bonus at the start, annealed to zero
CLIP_START = {CLIP}           # clip range at the start, annealed to half
KL_LIMIT = {KL}               # above this approx_kl the learning rate is halved


def schedule(progress, metrics):
    fraction = 1.0 - (1.0 - min(max(LR_END_FRACTION, 0.0), 1.0)) * progress
    lr = min(max(LR_START * fraction, 1e-6), 1e-2)
    kl = metrics.get("approx_kl")
    if kl is not None and kl > KL_LIMIT:
        lr = max(lr * 0.5, 1e-6)
    return {{"learning_rate": lr, "ent_coef": min(max(ENT_START * (1.0 - progress), 0.0), 0.1),
             "clip_range": min(max(CLIP_START * (1.0 - 0.5 * progress), 0.01), 0.5)}}
''',
        constants=(("LOG_LR", -3.3, 0.7), ("LR_END", 0.5, 0.4), ("ENT", 0.01, 0.01), ("CLIP", 0.2, 0.08),
                   ("KL", 0.03, 0.02)))


def validate(result: Any, clip: bool = False) -> tuple[dict[str, float | None], list[str]]:
    """(values to apply, reasons for what was refused). With ``clip``, out-of-bounds values are
    clipped to the bounds (online mode) instead of refused (schedule mode)."""
    if result is None:
        return {}, []
    if not isinstance(result, dict):
        return {}, [f"returned {type(result).__name__}, expected a dict of hyperparameters"]
    applied: dict[str, float | None] = {}
    refused: list[str] = []
    for key, value in list(result.items())[:50]:
        if key not in BOUNDS:
            refused.append(f"{brief(key)} is not adjustable (choose from {', '.join(BOUNDS)})")
            continue
        if value is None and key in OPTIONAL:
            applied[key] = None
            continue
        try:  # an int too large for a float is not a number a hyperparameter can take
            finite = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(float(value))
        except OverflowError:
            finite = False
        if not finite:
            refused.append(f"{key}={brief(value)} is not a finite number")
            continue
        value = float(value)
        low, high = BOUNDS[key]
        if not low <= value <= high:
            if not clip:
                refused.append(f"{key}={value:g} is outside [{low:g}, {high:g}]")
                continue
            refused.append(f"{key}={value:g} clipped to [{low:g}, {high:g}]")
            value = min(max(value, low), high)
        applied[key] = float(value)
    return applied, refused


def current(model: Any) -> dict[str, float | None]:
    progress = model._current_progress_remaining
    clip = model.clip_range
    return {"learning_rate": float(model.lr_schedule(progress)), "ent_coef": float(model.ent_coef),
            "clip_range": float(clip(progress) if callable(clip) else clip), "vf_coef": float(model.vf_coef),
            "max_grad_norm": float(model.max_grad_norm),
            "target_kl": None if model.target_kl is None else float(model.target_kl)}


def _constant(value: float):
    try:
        from stable_baselines3.common.utils import ConstantSchedule

        return ConstantSchedule(value)
    except ImportError:  # Stable-Baselines3 < 2.6
        from stable_baselines3.common.utils import get_schedule_fn

        return get_schedule_fn(value)


def apply(model: Any, values: dict[str, float | None]) -> None:
    for key, value in values.items():
        if key == "learning_rate":
            model.learning_rate = value
            model.lr_schedule = _constant(value)
            for group in model.policy.optimizer.param_groups:  # takes effect now, not at the next update
                group["lr"] = value
        elif key == "clip_range":
            model.clip_range = _constant(value)
        else:
            setattr(model, key, value)


def training_metrics(model: Any, progress: float) -> dict[str, Any]:
    """What the schedule sees: recent returns, the last update's losses and the current values."""
    logged = model.logger.name_to_value
    returns = [float(info["r"]) for info in list(model.ep_info_buffer or [])[-20:]]  # None before training starts

    def value(key: str) -> float | None:
        v = logged.get(f"train/{key}")
        return None if v is None or not np.isfinite(v) else round(float(v), 6)

    return {"progress": round(progress, 4), "env_steps": int(model.num_timesteps),
            "recent_returns": [round(r, 3) for r in returns],
            "mean_return": round(float(np.mean(returns)), 3) if returns else None,
            "value_loss": value("value_loss"), "policy_loss": value("policy_gradient_loss"),
            "entropy": None if value("entropy_loss") is None else -value("entropy_loss"),
            "approx_kl": value("approx_kl"), "clip_fraction": value("clip_fraction"),
            "explained_variance": value("explained_variance"), "hyperparameters": current(model)}


@dataclass
class ScheduleCall:
    env_steps: int
    progress: float
    returned: Any = None
    applied: dict = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    fault: str | None = None


def schedule_callback(code: str, sandbox: Sandbox, limits: Limits, every: int, total_steps: int):
    """A Stable-Baselines3 callback that calls ``schedule`` in the sandbox every ``every`` rollouts."""
    from stable_baselines3.common.callbacks import BaseCallback

    from promptpo.isolation.session import PolicySession

    class ScheduleCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[ScheduleCall] = []
            self.session: PolicySession | None = None
            self.fault: str | None = None
            self.rollouts = 0

        def _on_training_start(self) -> None:
            try:
                self.session = PolicySession(sandbox, limits, None)
                self.session.load(code, entry="schedule")
            except CandidateFault as err:
                self._disable(f"{err.outcome}: {err.message}")

        def _disable(self, reason: str) -> None:
            self.fault = reason
            log.info("schedule switched off: %s", reason)
            if self.session is not None:
                self.session.close()
                self.session = None

        def _on_rollout_end(self) -> None:
            self.rollouts += 1
            if self.session is None or (self.rollouts - 1) % every:
                return
            progress = min(1.0, self.num_timesteps / total_steps)
            call = ScheduleCall(int(self.num_timesteps), round(progress, 4))
            try:
                call.returned = self.session.call("schedule", [progress, training_metrics(self.model, progress)])
            except CandidateFault as err:
                call.fault = f"{err.outcome}: {err.message}"
                self.calls.append(call)
                self._disable(call.fault)  # training goes on with the values it has
                return
            call.applied, call.refused = validate(call.returned)
            apply(self.model, call.applied)
            self.calls.append(call)

        def _on_step(self) -> bool:
            return True

        def _on_training_end(self) -> None:
            if self.session is not None:
                self.session.close()
                self.session = None

    return ScheduleCallback()
