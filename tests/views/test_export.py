"""promptpo.views.export: a candidate as a standalone file whose header says what it is (run, score, verification,
who wrote it), refused when it did not run cleanly or the gate refuses it."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES
from promptpo.errors import ConfigError
from promptpo.records import RunFolder
from promptpo.views.export import export, header


@pytest.fixture
def policy(tmp_path):
    return shutil.copytree(FIXTURES / "runs-before-engine" / "policy", tmp_path / "policy")


def verify(run_path, candidate: str, check: dict) -> None:
    (run_path / "verifications").mkdir(exist_ok=True)
    (run_path / "verifications" / f"{candidate}-20270101-000000.json").write_text(json.dumps(check))


def test_the_best_exported_with_a_header_saying_what_it_is(policy, tmp_path):
    out = export(RunFolder(policy), None, tmp_path / "out" / "policy.py")
    text = out.read_text()
    code = (policy / "candidates" / "r00c0.py").read_text()
    assert out == tmp_path / "out" / "policy.py" and text.endswith("\n\n" + code)
    head = text[: -len(code)].splitlines()
    assert head[0] == "# promptpo policy — run policy, candidate r00c0"
    assert head[1] == "# env: gymnasium/CartPole-v1   model: scripted:tests/answers/cartpole"
    assert head[2] == "# recorded score: mean return 500.00 ± 0.00 (2 episodes)"
    assert head[3] == "# verified: no — run `promptpo verify` before trusting this policy"
    assert any(line.startswith("# GENERATED, UNTRUSTED CODE written by a language model") for line in head)
    assert all(line.startswith("# ") for line in head if line)


def test_a_verified_candidate_says_on_how_many_fresh_episodes(policy):
    verify(policy, "r00c0", {"outcome": "ok", "gap": False, "verdict": "matches",
                             "verified": {"episodes": 20, "mean_return": 498.5, "success_rate": None}})
    lines = header(RunFolder(policy), RunFolder(policy).candidate("r00c0"))
    assert lines[3] == "verified on 20 fresh episodes: mean return 498.50"
    verify(policy, "r00c0", {"outcome": "ok", "gap": True, "verdict": "lower by 40%",
                             "verified": {"episodes": 20, "mean_return": 300.0, "success_rate": 0.5}})
    lines = header(RunFolder(policy), RunFolder(policy).candidate("r00c0"))
    assert lines[3] == "verified on 20 fresh episodes: mean return 300.00, success rate 0.50 — GAP: lower by 40%"


def test_a_failed_verification_says_so(policy):
    verify(policy, "r00c0", {"outcome": "crashed", "verdict": "crashed on episode 3"})
    lines = header(RunFolder(policy), RunFolder(policy).candidate("r00c0"))
    assert lines[3] == "verified on fresh episodes: FAILED: crashed on episode 3"


def test_a_schedules_header(tmp_path):
    path = shutil.copytree(FIXTURES / "runs-before-engine" / "schedule", tmp_path / "schedule")
    run = RunFolder(path)
    lines = header(run, run.candidate("r00c0"))
    assert lines[0] == "promptpo schedule — run schedule, candidate r00c0"
    assert lines[2].startswith("recorded score: ") and "episodes)" not in lines[2]
    assert lines[3] == "verified: no — run `promptpo verify` before trusting this schedule"
    verify(path, "r00c0", {"seeds": 2, "verified_final_returns": [101.04, 99.96], "verdict": "matches", "gap": False})
    lines = header(RunFolder(path), run.candidate("r00c0"))
    assert lines[3] == "verified on 2 fresh training seeds: final returns [101.0, 100.0]"
    assert lines[4].startswith("Call schedule(progress, metrics)")


def test_a_candidate_that_did_not_run_cleanly_is_refused(policy, tmp_path):
    record_path = policy / "candidates" / "r00c0.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "outcome": "crashed"}))
    with pytest.raises(ConfigError, match=r"candidate r00c0 did not run cleanly \(crashed\)"):
        export(RunFolder(policy), "r00c0", tmp_path / "out.py")
    assert not (tmp_path / "out.py").exists()


def test_a_candidate_the_gate_refuses_is_exported_only_when_allowed(policy, tmp_path):
    code_path = policy / "candidates" / "r00c0.py"
    code_path.write_text("import os\n\n" + code_path.read_text())
    with pytest.raises(ConfigError, match="candidate r00c0 does not pass the gate"):
        export(RunFolder(policy), "r00c0", tmp_path / "out.py")
    assert not (tmp_path / "out.py").exists()
    out = export(RunFolder(policy), "r00c0", tmp_path / "out.py", allow_findings=True)
    assert "\n\nimport os\n" in out.read_text()


def test_an_offline_runs_candidate_says_the_offline_proposer_wrote_it(policy, tmp_path):
    meta = json.loads((policy / "run.json").read_text())
    (policy / "run.json").write_text(json.dumps({**meta, "backend": "offline"}))
    text = export(RunFolder(policy), "r00c0", tmp_path / "out.py").read_text()
    assert "written by the offline proposer" in text and "written by a language model" not in text
