"""Run folders written before the one run engine still open in every command that reads them.

tests/fixtures/runs-before-engine holds a policy run and a schedule run made by promptpo as it was
before the engine (commit 'Memory-bomb and SIGKILL-resume tests hold on a busy machine')."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES as ALL_FIXTURES, read_json, run_cli

FIXTURES = ALL_FIXTURES / "runs-before-engine"


@pytest.fixture
def runs(tmp_path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "runs")
    return tmp_path / "runs"


@pytest.mark.parametrize("kind", ["policy", "schedule"])
def test_show_audit_report_and_compare_read_them(runs, kind):
    run = runs / kind
    best = read_json(run / "summary.json")["best_candidate"]
    shown = run_cli("show", str(run))
    assert shown.returncode == 0 and best in shown.stdout, shown.stderr
    assert run_cli("show", str(run), best).returncode == 0
    audit = run_cli("audit", str(run), "--json")
    assert audit.returncode == 0 and json.loads(audit.stdout)[0]["id"] == best, audit.stderr
    report = run_cli("report", str(run), "-o", str(runs / f"{kind}.html"))
    assert report.returncode == 0 and (runs / f"{kind}.html").stat().st_size > 1000, report.stderr
    compared = run_cli("compare", str(run), "--json")
    assert compared.returncode == 0 and json.loads(compared.stdout)["groups"], compared.stderr
    assert run_cli("runs", "--out", str(runs)).returncode == 0


def test_an_old_interrupted_policy_run_resumes_in_the_engine(runs):
    run = runs / "policy"
    summary = read_json(run / "summary.json")
    (run / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    resumed = run_cli("resume", run.name, "--out", str(runs))
    assert resumed.returncode == 0, resumed.stderr
    final = read_json(run / "summary.json")
    assert final["status"] == summary["status"] and final["best_candidate"] == summary["best_candidate"]
    assert final["env_steps"] == summary["env_steps"] and final["llm_calls"] == summary["llm_calls"]
