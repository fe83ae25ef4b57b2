"""The secret the evaluation episodes' seeds are drawn with.

With seeds drawn from the run seed alone (``SeedSequence(0)``, the default), a program can draw them too, tell from
its first observation which episode it plays, and replay the environment's own random numbers: a red-team policy
played Blackjack with the deck known in advance, in the run and in ``verify``. So the seeds are drawn from the run
seed and a secret a policy never sees: ``$PROMPTPO_EPISODE_SECRET``, else one made once per user (a file in
promptpo's data folder, readable by the user only). Runs of the same seed on the same machine (or with the same
variable) still play the same episodes, so methods compare on the same ones; each run records its secret in
run.json, which the sandbox never sees, so ``resume`` and ``verify`` draw the same again anywhere. Runs recorded before
the secret existed have none and keep their public seeds.
"""

from __future__ import annotations

import hashlib

import os
import secrets
from pathlib import Path

ENV = "PROMPTPO_EPISODE_SECRET"


def folder() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "promptpo"


def episode_secret() -> str:
    """This user's secret (hex), made on first use."""
    given = os.environ.get(ENV)
    if given:
        return given.strip()
    path = folder() / "episode-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_hex(16)
    draft = path.with_name(f".episode-secret.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, made.encode())
    finally:
        os.close(fd)
    try:
        os.link(draft, path)  # whole or not at all: two runs starting at once keep the one that landed first
    except FileExistsError:
        made = path.read_text().strip()
    finally:
        os.unlink(draft)
    return made


def entropy(run_seed: int, secret: str | None) -> list[int] | int:
    """What numpy's SeedSequence is given: the run seed, with the secret when there is one."""
    if not secret:
        return run_seed
    return [run_seed, int.from_bytes(secret.encode(), "big") % (1 << 128)]


def worker_seed(salt: str, seed: int) -> int:
    """The seed the worker's RNGs get for an episode batch: derived from the episode seed and a secret
    of the run, so a policy cannot read back which episodes it plays (a run's or a verification's)."""
    digest = hashlib.blake2b(f"{salt}:{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
