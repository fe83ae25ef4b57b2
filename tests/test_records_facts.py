"""promptpo.records on hand-written run folders: what facts derive from records written out of order, by an
interrupted run, or damaged (fast: no run is made)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptpo.errors import RunStoreError
from promptpo.records import RunFolder


def record(cid: str, mean: float, success: float | None = None, env_steps: int = 100, episodes: int = 2,
           **extra) -> dict:
    rnd, idx = int(cid[1:3]), int(cid[4:])
    return {"id": cid, "round": rnd, "index": idx, "outcome": "ok", "env_steps": env_steps,
            "score": {"mean_return": mean, "std_return": 0.0, "success_rate": success,
                      "mean_steps_to_success": None, "complete": True},
            "evaluation": {"episodes": [{}] * episodes}, **extra}


def folder(root: Path, records: list[dict], events: list[dict] | None = None, summary: dict | None = None,
           meta: dict | None = None, name: str = "20261206-100000-run") -> RunFolder:
    path = root / name
    (path / "candidates").mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"env": "gymnasium/CartPole-v1", "kind": "promptpo", "seed": 0,
                                               "model": "scripted:x", "config": {}, **(meta or {})}))
    for r in records:
        (path / "candidates" / f"{r['id']}.json").write_text(json.dumps(r))
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events or []))
    if summary is not None:
        (path / "summary.json").write_text(json.dumps(summary))
    return RunFolder(path)


def test_a_record_holding_a_word_for_a_number_is_one_unreadable_line(tmp_path):
    run = folder(tmp_path, [record("r00c0", 1.0), {**record("r00c1", 2.0), "round": "zero"}],
                 summary={"status": "completed", "env_steps": 200})
    with pytest.raises(RunStoreError) as err:
        run.facts  # noqa: B018
    assert "r00c1.json" in err.value.message and "round" in err.value.message


def test_runs_lists_such_a_folder_as_unreadable(tmp_path):
    from conftest import run_cli

    folder(tmp_path, [{**record("r00c0", 1.0), "env_steps": "many"}], summary={"status": "completed"})
    folder(tmp_path, [record("r00c0", 1.0)], summary={"status": "completed", "env_steps": 100}, name="20261206-1-ok")
    proc = run_cli("runs", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "unreadable" in proc.stdout and "20261206-1-ok" in proc.stdout
    from promptpo.ui.runs import find_runs

    listing = find_runs(tmp_path)
    assert list(listing.runs) == ["20261206-1-ok"] and len(listing.unreadable) == 1
    assert "env_steps is not a number" in listing.unreadable[0]
