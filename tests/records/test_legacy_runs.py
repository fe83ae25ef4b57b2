"""Run folders written by earlier promptpo still open in every command that reads them, and resume.

tests/fixtures/runs-before-engine holds a policy run and a schedule run made by promptpo as it was before the
engine (commit 'Memory-bomb and SIGKILL-resume tests hold on a busy machine'); runs-before-the-move a policy, a
schedule and an online run made by promptpo as it was before the package was rearranged by stage (bb13c75)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES as ALL_FIXTURES, read_json, run_cli

RECORDED = {"runs-before-engine": ["policy", "schedule"], "runs-before-the-move": ["policy", "schedule", "online"]}
"""Each set of old run folders, and the kinds of run it holds (a folder each)."""
EACH = [(era, kind) for era, kinds in RECORDED.items() for kind in kinds]


@pytest.fixture
def era_runs(tmp_path):
    def copy(era: str) -> Path:
        shutil.copytree(ALL_FIXTURES / era, tmp_path / era)
        return tmp_path / era
    return copy


@pytest.mark.parametrize("era,kind", EACH)
def test_show_audit_report_and_compare_read_them(era_runs, era, kind):
    runs = era_runs(era)
    run = runs / kind
    best = read_json(run / "summary.json")["best_candidate"]  # None: an online run steers one training
    shown = run_cli("show", str(run))
    assert shown.returncode == 0 and (best or "") in shown.stdout, shown.stderr
    audit = run_cli("audit", str(run), "--json")
    rows = json.loads(audit.stdout) if audit.returncode == 0 else audit.stderr
    assert [r["id"] for r in rows] == sorted(p.stem for p in (run / "candidates").glob("*.json")), rows
    if best:
        assert run_cli("show", str(run), best).returncode == 0
        assert not any("verify" in flag for r in rows for flag in r["flags"]) or kind == "policy", rows
    report = run_cli("report", str(run), "-o", str(runs / f"{kind}.html"))
    assert report.returncode == 0 and (runs / f"{kind}.html").stat().st_size > 1000, report.stderr
    compared = run_cli("compare", str(run), "--json")
    assert compared.returncode == 0 and json.loads(compared.stdout)["groups"], compared.stderr
    assert run_cli("runs", "--out", str(runs)).returncode == 0


@pytest.mark.parametrize("era,kind", EACH)
def test_an_old_interrupted_run_resumes_in_the_engine(era_runs, era, kind):
    runs = era_runs(era)
    run = runs / kind
    summary = read_json(run / "summary.json")
    (run / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    resumed = run_cli("resume", run.name, "--out", str(runs))
    assert resumed.returncode == 0, resumed.stderr
    final = read_json(run / "summary.json")
    assert final["status"] == summary["status"] and final["best_candidate"] == summary["best_candidate"]
    assert final["env_steps"] == summary["env_steps"] and final["llm_calls"] == summary["llm_calls"]
