"""A fine-tuning's checkpoint: the learner and its buffer as SB3 pickles them (checkpoint.zip, replay.pkl), signed
with this user's secret, and the training's state beside them (finetune_state.json), read back only when it is
whole: resume unpickles the checkpoint, so it takes only one this user's promptpo wrote, and a state or curve a
kill or a hand damaged is one clear error, not an internal one."""

from __future__ import annotations

import json
from pathlib import Path

from promptpo.errors import RunStoreError
from promptpo.records.folder import Folder, finite
from promptpo.seeds import episode_secret

COUNTS = ("rollbacks", "episodes")
"""The state's counts (never None)."""
OPTIONAL = ("best_return", "best_at", "evaluated_at")
"""The state's numbers that are None before the first evaluation."""


def signatures(root: Path) -> dict[str, str]:
    """HMAC-SHA256 of each checkpoint file under this user's secret (promptpo.seeds)."""
    import hashlib
    import hmac

    key = episode_secret().encode()
    return {name: hmac.new(key, (root / name).read_bytes(), hashlib.sha256).hexdigest()
            for name in ("checkpoint.zip", "replay.pkl") if (root / name).is_file()}


def read_state(root: Path) -> dict:
    """finetune_state.json, when its signatures match the checkpoint's files and its numbers are numbers."""
    path = root / "finetune_state.json"
    state = Folder(root).json("finetune_state.json", required=True)
    if not isinstance(state, dict) or state.get("signatures") != signatures(root):
        raise RunStoreError(f"{root.name}'s checkpoint was not written by this user's promptpo (or was changed "
                            "since): resuming would unpickle it", "resume only runs you started; start it again")
    for name in (*COUNTS, *OPTIONAL, "wall_time_s"):
        value = state.get(name)
        if name in state and not (value is None and name in OPTIONAL) and not finite(value):
            raise RunStoreError(f"{path}: its {name} is not a number ({str(value)[:40]!r})",
                                "the run folder is corrupt; start it again")
    returns = state.get("best_returns")
    if returns is not None and not (isinstance(returns, list) and all(finite(r) for r in returns)):
        raise RunStoreError(f"{path}: its best_returns are not a list of numbers", "the run folder is corrupt; "
                            "start it again")
    return state


def curve(root: Path) -> list[dict]:
    """curve.jsonl's points (a last line a kill cut short left out; a bad line elsewhere is a corrupt folder)."""
    return Folder(root).lines("curve.jsonl")


def drop_points_after(root: Path, steps: int) -> None:
    """A kill between an evaluation and its checkpoint left points the resumed learner has not reached (and maybe
    a line cut short): the curve keeps what the learner had done. A point whose env_steps is not a number is kept
    as it was (the views leave it out)."""
    path = root / "curve.jsonl"
    if path.exists():
        kept = [p for p in curve(root) if not (finite(p.get("env_steps")) and p["env_steps"] > steps)]
        path.write_text("".join(json.dumps(p) + "\n" for p in kept))
