"""promptpo.views.dataset: `promptpo dataset export` writes a language model's answers, and says what it left out."""

from __future__ import annotations

import json

import pytest

from conftest import ANSWERS, only_run, run_cli

pytestmark = pytest.mark.slow


def test_offline_samples_are_left_out_unless_asked_and_said(tmp_path):
    """An export of an offline run beside an LLM run was mostly offline samples with a placeholder prompt."""
    offline = run_cli("optimize", "gymnasium/CartPole-v1", "--model", "offline", "--rounds", "1", "--no-library",
                      "--out", str(tmp_path / "offline"))
    assert offline.returncode == 0, offline.stderr
    scripted = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{ANSWERS / 'cartpole'}",
                       "--rounds", "1", "--candidates", "1", "--no-library", "--out", str(tmp_path / "llm"))
    assert scripted.returncode == 0, scripted.stderr
    runs = [str(only_run(tmp_path / "offline")), str(only_run(tmp_path / "llm"))]
    samples = len(list((only_run(tmp_path / "offline") / "candidates").glob("*.json")))
    assert samples >= 2

    path = tmp_path / "data.jsonl"
    proc = run_cli("dataset", "export", *runs, "-o", str(path))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["metadata"]["model"] for line in lines] == [f"scripted:{ANSWERS / 'cartpole'}"]
    assert "no LLM, no prompt" not in path.read_text()
    assert proc.stderr.splitlines() == [
        f"wrote 1 examples to {path}",
        f"left out {samples} offline-proposer samples (no prompt was sent: give --include-offline to keep them)"]

    every = run_cli("dataset", "export", *runs, "-o", str(path), "--include-offline")
    assert every.returncode == 0 and every.stderr.splitlines() == [f"wrote {samples + 1} examples to {path}"]
    assert len(path.read_text().splitlines()) == samples + 1
