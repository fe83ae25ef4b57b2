"""The per-user secret episode seeds are drawn with (promptpo.seeds)."""

from __future__ import annotations

import multiprocessing
import os
import stat

from promptpo import seeds


def _secret(folder: str, queue) -> None:
    os.environ["XDG_DATA_HOME"] = folder
    os.environ.pop(seeds.ENV, None)
    queue.put(seeds.episode_secret())


def test_one_secret_per_user_even_when_runs_start_at_once(tmp_path, monkeypatch):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    starters = [context.Process(target=_secret, args=(str(tmp_path), queue)) for _ in range(8)]
    for p in starters:
        p.start()
    made = {queue.get(timeout=30) for _ in starters}
    for p in starters:
        p.join(timeout=30)
    [secret] = made  # every run that started at once drew the same
    path = tmp_path / "promptpo" / "episode-secret"
    assert path.read_text() == secret and len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the user's only
    assert sorted(p.name for p in path.parent.iterdir()) == ["episode-secret"]  # no drafts left behind
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv(seeds.ENV, "given")
    assert seeds.episode_secret() == "given"  # the variable wins over the file
    monkeypatch.delenv(seeds.ENV)
    assert seeds.episode_secret() == secret  # and the file is read, not made again
