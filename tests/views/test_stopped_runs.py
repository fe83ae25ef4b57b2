"""What the views say of candidates the cascade stopped: diff, audit, and verify/play/export of a run whose every
candidate was stopped (pick-place's first answer fails its first 2 episodes, its second succeeds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ANSWERS, cli_on, only_run, run_cli

pytestmark = pytest.mark.slow


def pick_place(out: Path, candidates: int) -> Path:
    proc = run_cli("optimize", "metaworld/pick-place", "--model", f"scripted:{ANSWERS / 'pick_place'}",
                   "--episodes", "10", "--candidates", str(candidates), "--rounds", "1", "--no-library",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return only_run(out)


@pytest.fixture(scope="module")
def round_mates(tmp_path_factory) -> Path:
    """One round of two: r00c0 stopped after 0/2 successes, r00c1 (its round-mate) succeeds on all 10."""
    return pick_place(tmp_path_factory.mktemp("runs"), 2)


def test_diff_says_the_rank_key_change_first_and_that_a_side_was_stopped(round_mates):
    proc = cli_on(round_mates, "diff", "r00c1", "r00c0")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "r00c1: mean return" in lines[0] and "r00c0: mean return" in lines[0]
    assert lines[1].startswith("r00c1 ranks higher") and "the cascade stopped r00c0" in lines[1]
    assert lines[2].startswith("change, in rank order: success rate 1.00 -> 0.00 (-1.00)")
    assert "r00c0's numbers are of its first 2 of 10 episodes only" in lines[3]
    assert "change in mean return" not in proc.stdout


def test_audit_says_what_the_cascade_knew_when_a_round_mate_succeeded(round_mates):
    proc = cli_on(round_mates, "audit", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in json.loads(proc.stdout)}
    assert rows["r00c1"]["success_rate"] == 1.0
    [flag] = rows["r00c0"]["flags"]
    assert "no candidate has succeeded yet" not in flag  # false: r00c1 had, in the same round
    assert "and the run had no success as its wave began" in flag
    assert "its round-mate r00c1 succeeded, evaluated alongside it" in flag


def test_audit_rewords_records_written_before_the_wording_was_true(round_mates, tmp_path):
    old = tmp_path / round_mates.name
    import shutil

    shutil.copytree(round_mates, old)
    path = old / "candidates" / "r00c0.json"
    record = json.loads(path.read_text())
    record["evaluation"]["stage"]["reason"] = "0/2 successes in the first 2 episodes and no candidate has succeeded yet"
    path.write_text(json.dumps(record))
    [flag] = {r["id"]: r for r in json.loads(cli_on(old, "audit", "--json").stdout)}["r00c0"]["flags"]
    assert "succeeded yet" not in flag and "the run had no success as its wave began" in flag


@pytest.fixture(scope="module")
def all_stopped(tmp_path_factory) -> Path:
    """One round of one: r00c0 stopped after 0/2 successes, so the run has no fully evaluated candidate."""
    return pick_place(tmp_path_factory.mktemp("runs"), 1)


NOTE = "has no fully evaluated candidate: r00c0 is the best of those the cascade stopped early"


def test_verify_play_and_export_take_the_best_stopped_candidate_and_say_so(all_stopped, tmp_path):
    """They said "has no scored candidate" for a run whose candidates were all stopped early."""
    verified = cli_on(all_stopped, "verify", "--episodes", "2")
    assert verified.returncode == 0, verified.stderr
    assert NOTE in verified.stdout.splitlines()[0] and "candidate r00c0 of" in verified.stdout
    played = cli_on(all_stopped, "play", "--episodes", "1")
    assert played.returncode == 0, played.stderr
    assert NOTE in played.stdout.splitlines()[0]
    exported = cli_on(all_stopped, "export", "-o", str(tmp_path / "policy.py"))
    assert exported.returncode == 0, exported.stderr
    assert NOTE in exported.stdout and "(stopped after 2 of 10 episodes)" in (tmp_path / "policy.py").read_text()
    assert "verified on 2 fresh episodes" in (tmp_path / "policy.py").read_text()  # the verification above


def test_a_ppo_run_says_what_it_is_instead_of_having_no_scored_candidate(tmp_path):
    out = tmp_path / "runs"
    trained = run_cli("baseline", "ppo", "gymnasium/CartPole-v1", "--steps", "512", "--seeds", "1", "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    ppo = only_run(out)
    assert (ppo / "model.zip").is_file()
    for verb, extra in (("verify", ()), ("play", ()), ("export", ("-o", str(tmp_path / "p.py")))):
        proc = cli_on(ppo, verb, *extra)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        [line] = proc.stderr.strip().splitlines()
        assert "is a PPO baseline" in line and "model.zip" in line and f"no program to {verb}" in line
        assert "no scored candidate" not in line and f"promptpo show {ppo.name}" in line


def test_load_policy_of_such_a_run_says_which_candidate_it_loads(all_stopped, caplog):
    import promptpo

    with caplog.at_level("WARNING", logger="promptpo.policy.loader"):
        with promptpo.load_policy(all_stopped) as policy:
            assert policy is not None
    assert any(NOTE in r.getMessage() for r in caplog.records)
