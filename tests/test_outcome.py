"""promptpo.outcome.RunStatus and promptpo.candidate.CandidateKind: the words run folders hold, as enums whose
values are those words (so records written before read the same, and records written now hold the same)."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import FIXTURES

from promptpo.candidate import CandidateKind
from promptpo.outcome import RunStatus

RUN_FOLDERS = sorted(p.parent for p in FIXTURES.rglob("run.json"))


def recorded_statuses() -> list[str]:
    found = []
    for folder in RUN_FOLDERS:
        for name in ("run.json", "summary.json"):
            data = json.loads((folder / name).read_text())
            found += [data["status"]] if "status" in data else []
    return found


def test_the_fixtures_hold_run_folders_with_statuses():
    assert len(RUN_FOLDERS) >= 2 and len(recorded_statuses()) >= 2 * len(RUN_FOLDERS)


@pytest.mark.parametrize("text", sorted(set(recorded_statuses())))
def test_a_recorded_status_reads_as_itself_and_writes_back_the_same(text):
    status = RunStatus.read(text)
    assert status is RunStatus(text) and status == text and f"{status}" == text
    assert json.dumps({"status": status}) == json.dumps({"status": text})


def test_an_unknown_or_missing_status_reads_as_none():
    assert RunStatus.read("paused") is None and RunStatus.read(None) is None and RunStatus.read("") is None


@pytest.mark.parametrize("status", list(RunStatus))
def test_a_status_is_finished_or_says_how_the_command_fails(status):
    """Finished runs exit 0 and are not resumed; an interrupted one exits 130 as Ctrl-C does; the rest 1."""
    if status.finished:
        assert status.exit_code == 0
    else:
        assert status.exit_code == (130 if status is RunStatus.INTERRUPTED else 1)
    assert status.finished == (status not in (RunStatus.RUNNING, RunStatus.FAILED, RunStatus.INTERRUPTED))


def test_resume_refuses_a_finished_run_and_bench_counts_it_done(tmp_path):
    from promptpo.bench.jobs import plan
    from promptpo.bench.suite import Job, Method
    from promptpo.errors import RunStoreError
    from promptpo.records import RunFolder
    from promptpo.resume import resumable

    policy = next(p for p in RUN_FOLDERS if json.loads((p / "run.json").read_text()).get("kind") == "promptpo")
    status = RunStatus(json.loads((policy / "summary.json").read_text())["status"])
    assert status.finished
    with pytest.raises(RunStoreError, match=f"already finished \\({status}\\)"):
        resumable(RunFolder(policy))
    job = Job("gymnasium/CartPole-v1", Method("promptpo", "promptpo"), 0)
    shutil.copytree(policy, tmp_path / job.key / policy.name)
    assert plan(job, tmp_path, None).action == "done"


def recorded_kinds() -> list[str]:
    kinds = []
    for folder in RUN_FOLDERS:
        kinds += [json.loads(p.read_text())["kind"] for p in (folder / "candidates").glob("*.json")]
        events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines() if line.strip()]
        kinds += [e["kind"] for e in events if e.get("event") == "candidate"]
    return kinds


def test_recorded_candidate_kinds_read_as_kinds():
    """Every kind a fixture's candidates hold is a CandidateKind, but 'first': what the schedule kind wrote for an
    initial candidate before the engine (it still reads as the word it is)."""
    kinds = recorded_kinds()
    assert CandidateKind.INITIAL in kinds
    assert {k for k in kinds if k not in set(CandidateKind)} <= {"first"}
    assert all(json.dumps(CandidateKind(k)) == json.dumps(k) for k in kinds if k in set(CandidateKind))
