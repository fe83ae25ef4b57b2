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

    listing = find_runs(tmp_path).with_facts()  # what the runs page lists
    assert list(listing.runs) == ["20261206-1-ok"] and len(listing.unreadable) == 1
    assert "env_steps is not a number" in listing.unreadable[0]


def test_the_curve_is_the_best_by_rank_key_in_order_of_env_steps_whatever_the_events_say(tmp_path):
    """An interrupted-then-resumed run: its events are out of slot order and their `best` flags were judged from
    partial histories (r00c1 flagged best though r00c0, which succeeded, ranks higher)."""
    records = [record("r00c0", 50.0, 1.0, 100), record("r00c1", 900.0, 0.0, 100), record("r01c0", 60.0, 1.0, 100)]
    events = [  # the resumed process logged r00c1 and r01c0 first, then the first process's r00c0 was appended
        {"event": "candidate", "id": "r00c1", "outcome": "ok", "mean_return": 900.0, "success_rate": 0.0,
         "best": True, "total_env_steps": 200, "total_episodes": 4},
        {"event": "candidate", "id": "r01c0", "outcome": "ok", "mean_return": 60.0, "success_rate": 1.0,
         "best": True, "total_env_steps": 300, "total_episodes": 6},
        {"event": "candidate", "id": "r00c0", "outcome": "ok", "mean_return": 50.0, "success_rate": 1.0,
         "best": False, "total_env_steps": 100, "total_episodes": 2}]
    facts = folder(tmp_path, records, events, {"status": "completed", "env_steps": 300}).facts
    points = [(p.env_steps, p.mean_return, p.success_rate) for p in facts.curve]
    assert points == [(0, None, None), (100, 50.0, 1.0), (200, 50.0, 1.0), (300, 60.0, 1.0)]
    assert facts.best == "r01c0" and facts.area() == pytest.approx((100 * 50 + 100 * 50 + 100 * 50) / 300)


def test_a_record_with_no_event_yet_is_placed_after_the_steps_before_it(tmp_path):
    records = [record("r00c0", 10.0, None, 100), record("r00c1", 20.0, None, 50)]
    events = [{"event": "candidate", "id": "r00c0", "outcome": "ok", "mean_return": 10.0, "total_env_steps": 130}]
    facts = folder(tmp_path, records, events, {"status": "interrupted", "env_steps": 180}).facts
    assert [(p.env_steps, p.mean_return) for p in facts.curve] == [(0, None), (130, 10.0), (180, 20.0)]


def test_the_area_sorts_its_points():
    from promptpo.records import Facts, Method
    from promptpo.stats import CurvePoint

    curve = [CurvePoint(0, 0, None, None), CurvePoint(300, 6, 30.0, None), CurvePoint(100, 2, 10.0, None)]
    facts = Facts("r", Path("r"), "promptpo", "e", 0, Method("m"), "completed", "", "", None, None, None, None,
                  None, None, 300, 6, curve, 0, 0, 0, 0, None, None, 2, None, None)
    assert facts.area() == pytest.approx(10.0)  # 10 from 0 (back-filled) to 300, where 30 begins; unsorted: 16.7


def test_a_program_runs_final_return_is_its_bests_score(tmp_path):
    records = [record("r00c0", 50.0, 1.0), record("r00c1", 900.0, 0.0)]
    facts = folder(tmp_path, records, summary={"status": "completed", "env_steps": 200, "best_candidate": "r00c0",
                                               "final_return": 900.0, "final_success_rate": 0.0}).facts
    assert (facts.final_return, facts.final_success) == (50.0, 1.0)


def test_a_rebuilt_summary_ranks_by_the_runs_criterion(tmp_path):
    def training(cid: str, auc: float, steps: int) -> dict:
        return {**record(cid, auc), "score": {"mean_return": auc, "auc": auc, "steps_to_threshold": steps,
                                              "complete": True}}

    run = folder(tmp_path, [training("r00c0", 300.0, 9000), training("r00c1", 200.0, 4000)],
                 meta={"kind": "schedule", "config": {"criterion": "steps"}})
    assert run.recovered and run.summary["best_candidate"] == "r00c1"  # sooner to the threshold, a smaller area
    assert run.facts.best == "r00c1" and run.facts.final_return == 200.0


def test_runs_shown_different_library_examples_are_different_methods(tmp_path):
    def shown(*names: str) -> dict:
        return {"config": {"examples": 2, "shown_examples": [{"name": n, "env": "e"} for n in names]}}

    a = folder(tmp_path, [], meta=shown("reach-1", "push-2"), name="20261206-1-a").facts.method
    b = folder(tmp_path, [], meta=shown("reach-1"), name="20261206-2-b").facts.method
    c = folder(tmp_path, [], meta=shown("reach-1", "push-2"), name="20261206-3-c").facts.method
    none = folder(tmp_path, [], name="20261206-4-d").facts.method
    assert a == c and a != b and a.name == b.name
    assert dict(a.settings)["shown_examples"] == "2 (reach-1, push-2)" and "shown_examples" not in dict(none.settings)
    assert a.differing([a, b]) == "promptpo (scripted:x) [shown_examples=2 (reach-1, push-2)]"


def test_records_rank_with_the_engines_own_key():
    """records.rank_key is the engine's (candidate.policy_rank_key, candidate.training_rank_key, which the engine's Evaluation and Training call), not a copy."""
    from promptpo.candidate import policy_rank_key
    from promptpo.records import rank_key
    from promptpo.candidate import training_rank_key

    scored = {"outcome": "ok", "score": {"mean_return": 80.0, "success_rate": 0.5, "mean_steps_to_success": 40.0}}
    assert rank_key(scored) == policy_rank_key(0.5, 40.0, 80.0) == (0.5, -40.0, 80.0)
    training = {"outcome": "ok", "score": {"mean_return": 100.0, "auc": 300.0, "steps_to_threshold": 9000}}
    assert rank_key(training, "steps") == training_rank_key(300.0, 9000, 100.0, "steps") == (-9000, 300.0)
    assert rank_key(training) == (300.0, 100.0)
    assert rank_key({**scored, "outcome": "crashed"}) == rank_key({"outcome": "ok", "score": None})


def test_views_word_calls_and_status_one_way(tmp_path):
    from promptpo.records import calls_text, status_text

    run = folder(tmp_path, [record("r00c0", 1.0)], summary={"status": "completed", "best_candidate": "r00c0"})
    (run.path / "llm").mkdir()
    for call in (1, 2, 3):
        (run.path / "llm" / f"{call:04d}.prompt.md").write_text("p")
    (run.path / "llm" / "0001.response.md").write_text("a")
    assert calls_text(run.facts) == "1 (2 sent, unanswered)" and status_text(run.facts) == "completed"
    lost = folder(tmp_path, [{**record("r00c0", 1.0), "outcome": "crashed", "score": None}], name="20261206-2-lost")
    assert status_text(lost.facts) == "interrupted, no candidate scored in full (summary rebuilt from the records)"
    assert calls_text(lost.facts) == "-"


def test_tuning_samples_are_read_through_the_folder(tmp_path):
    run = folder(tmp_path, [record("r00c0", 1.0)])
    (run.path / "tuning").mkdir()
    (run.path / "tuning" / "a.json").write_text(json.dumps({"key": "a", "outcome": "ok", "env_steps": 5}))
    (run.path / "tuning" / "b.json").write_text('{"key": "b", "outc')  # cut short by a kill
    assert [r["key"] for r in run.tuning_samples()] == ["a"] and "tuning/b.json" in run.problems[0]


def test_a_bench_jobs_runs_are_found_by_records(tmp_path):
    from promptpo.bench.jobs import runs_of

    folder(tmp_path, [record("r00c0", 1.0)], summary={"status": "completed"}, name="20261206-1-a")
    (tmp_path / "20261206-2-b").mkdir()
    (tmp_path / "20261206-2-b" / "run.json").write_text("{")  # unreadable: skipped
    assert [p.name for p, _, _ in runs_of(tmp_path)] == ["20261206-1-a"]


def test_the_library_refuses_a_folder_that_is_no_run(tmp_path):
    from promptpo.errors import ConfigError
    from promptpo.policy.library import add

    (tmp_path / "x").mkdir()
    with pytest.raises(ConfigError, match="is not a run folder"):
        add(tmp_path / "x", tmp_path / "lib")


def test_a_running_run_whose_process_is_gone_is_interrupted(tmp_path):
    """SIGKILL or the OOM killer: the summary says running forever; its pid says otherwise."""
    import socket
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that was alive and is gone
    here = socket.gethostname()
    dead = folder(tmp_path, [record("r00c0", 1.0)], summary={"status": "running", "env_steps": 100,
                                                             "pid": child.pid, "host": here}, name="20261206-1-dead")
    facts = dead.facts
    assert facts.status == "interrupted" and facts.unfinished == "interrupted after 100 env steps (its process is gone)"
    import os

    live = folder(tmp_path, [record("r00c0", 1.0)], summary={"status": "running", "env_steps": 100,
                                                             "pid": os.getpid(), "host": here}, name="20261206-2-live")
    assert live.facts.status == "running"
    from promptpo.records.liveness import boot_id, process_start, this_process

    assert live.facts.status == "running" and folder(tmp_path, [], summary={"status": "running", **this_process()},
                                                     name="20261206-3-this").facts.status == "running"
    reused = folder(tmp_path, [], summary={"status": "running", "pid": os.getpid(), "host": here,
                                           "pid_start": process_start(os.getpid()) - 1}, name="20261206-5-reused")
    assert reused.facts.status == "interrupted"  # the pid lives, but in a process started at another time
    rebooted = folder(tmp_path, [], summary={"status": "running", "pid": os.getpid(), "host": here,
                                             "boot_id": boot_id() + "-before"}, name="20261206-6-rebooted")
    assert rebooted.facts.status == "interrupted"
    elsewhere = folder(tmp_path, [], summary={"status": "running", "pid": child.pid, "host": here + "-other"},
                       name="20261206-7-elsewhere")
    assert elsewhere.facts.status == "running"  # another host's pid says nothing here
    unknown = folder(tmp_path, [], summary={"status": "running"}, name="20261206-4-old")
    assert unknown.facts.status == "running"  # nothing recorded says otherwise


def test_an_event_holding_a_word_for_its_steps_is_one_unreadable_line(tmp_path):
    events = [{"event": "candidate", "id": "r00c0", "outcome": "ok", "mean_return": 1.0, "total_env_steps": "lots"}]
    run = folder(tmp_path, [record("r00c0", 1.0)], events, {"status": "completed"})
    with pytest.raises(RunStoreError, match="events.jsonl: its total_env_steps is not a number"):
        run.facts  # noqa: B018
