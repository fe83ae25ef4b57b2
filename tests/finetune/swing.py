"""The fine-tuning tests' base program (Pendulum: swing up, then hold) and their small settings."""

from __future__ import annotations

from pathlib import Path

from promptpo.finetune.config import FinetuneConfig

PENDULUM = "gymnasium/Pendulum-v1"
SWING = """import numpy as np

KP = 4.0
KD = 1.0


def act(obs):
    cos, sin, speed = obs
    angle = np.arctan2(sin, cos)
    if cos > 0.6:  # near the top: hold it there
        return np.array([np.clip(-KP * angle - KD * speed, -2.0, 2.0)])
    return np.array([2.0 * np.sign(speed or 1.0)])  # pump energy
"""
SMALL = {"policy_kwargs": {"net_arch": [32, 32]}}


def config(base_run: Path, **changes) -> FinetuneConfig:
    from promptpo.finetune.base import read_base

    base, env = read_base(str(base_run), None, base_run.parent)
    settings = dict(steps=600, warmup=200, critic_steps=200, eval_points=3, eval_episodes=2, judge_episodes=2,
                    out=base_run.parent, options=SMALL)
    settings.update(changes)
    if settings.get("algo") == "ars":
        settings["options"] = {}
    return FinetuneConfig(env=env, base=base, **settings)


def refused_in_one_line(base_run: Path, args: list[str], message: str) -> None:
    """`promptpo finetune` on ``base_run`` with ``args`` exits non-zero with ``message`` in at most two lines of
    stderr (the error and its hint), no traceback."""
    from conftest import run_cli

    proc = run_cli("finetune", base_run.name, "--steps", "100", *args, "--out", str(base_run.parent))
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
