"""Records land when a candidate's evaluation ends: Ctrl-C in the middle of a round keeps what finished, and
resume neither re-runs those evaluations nor asks for their answers again; the run folder comes out as an
uninterrupted run's. Also: resume shows the run like optimize and joins the library; the run folder is said when
the run starts; calls that were never answered are not counted as calls."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import cli_env, only_run, read_json, run_cli, scripted
from llm_server import FakeLLMServer, answer

import promptpo
from promptpo.records import RunFolder
from promptpo.resume import resume
from promptpo.policy.task import PolicyTask


def gain(g: float) -> str:
    """A deterministic CartPole policy; the gain changes how long the pole stays up."""
    return f"def act(obs):\n    x, v, a, w = obs\n    return int(a + {g} * w > 0)"


SLOW = ("def act(obs):\n    thought = 0\n    for i in range(200_000):\n        thought += i\n    x, v, a, w = obs\n"
        "    return int(a + 0.4 * w > 0)")
"""Seconds per evaluation: still running when the round's other evaluations have ended."""


def block(code: str) -> str:
    return f"```python\n{code}\n```"


def recorded(run: Path) -> dict:
    """What a run folder says about its candidates and calls, without wall times and timestamps."""
    files = {}
    for path in sorted((run / "candidates").iterdir()):
        data = path.read_text()
        if path.suffix == ".json":
            data = json.loads(data)
            if data.get("evaluation"):
                data["evaluation"].pop("wall_time_s", None)
        files[f"candidates/{path.name}"] = data
    for path in sorted((run / "llm").glob("*.md")):
        files[f"llm/{path.name}"] = path.read_text()
    summary = read_json(run / "summary.json")
    files["summary"] = {k: summary[k] for k in ("best_candidate", "candidates", "llm_calls", "llm_calls_unanswered",
                                                "env_steps", "episodes", "best_score", "status")}
    files["best.py"] = (run / "best.py").read_text().replace(str(run), "RUN").replace(run.name, "RUN")
    return files


def candidate_events(run: Path) -> list[str]:
    return [e["id"] for e in RunFolder(run).events() if e["event"] == "candidate"]


def candidate_event_fields(run: Path) -> list[dict]:
    """The candidate events in the order logged, every field but the time."""
    return [{k: v for k, v in e.items() if k != "t"} for e in RunFolder(run).events() if e["event"] == "candidate"]


# -- in-process: SIGINT while one evaluation of round 2 runs and the others have ended ---------------------------

SLOW_46 = ("def act(obs):\n    thought = 0\n    for i in range(500_000):\n        thought += i\n    x, v, a, w = obs\n"
           "    return int(a > 0)")
"""Slow, and scores about 46: better than round 1, worse than the slot after it."""
SCRIPT = [f"def act(obs):\n    return 0  # {i}" for i in range(4)] + [SLOW_46, gain(0.3), gain(0.6), gain(0.8)]
"""Call k gets answer k: round 1 (calls 1-4, each about 9), then round 2 (calls 5-8) whose first slot is slow and
a new best (about 46), and whose second scores 500: taken in before the first, it would be logged first, with
total env steps leaving the first out, and the first would not be flagged best."""
ROUND_2 = ["r01c0", "r01c1", "r01c2", "r01c3"]


def script(tmp_path: Path) -> str:
    return scripted(tmp_path, *(block(code) for code in SCRIPT))


def run_options(tmp_path: Path, out: str) -> dict:
    return {"rounds": 2, "candidates": 4, "episodes": 2, "cascade": 0, "target": 1000, "seed": 1, "salt": "s",
            "workers": 2, "out": tmp_path / out}


def programs_evaluated(monkeypatch) -> list[str]:
    """The programs PolicyTask evaluates from now on, in order (a list that fills as the run goes)."""
    evaluated: list[str] = []
    evaluate = PolicyTask.evaluate

    def counting(self, code, *args, **kwargs):
        evaluated.append(code)
        return evaluate(self, code, *args, **kwargs)

    monkeypatch.setattr(PolicyTask, "evaluate", counting)
    return evaluated


def held_until(monkeypatch, code: str) -> threading.Event:
    """``code``'s evaluation starts only once the returned event is set: the slot stays in flight while the others
    end, whatever order a busy machine would run them in."""
    release = threading.Event()
    evaluate = PolicyTask.evaluate

    def held(self, program, *args, **kwargs):
        if program.strip() == code.strip():
            release.wait(timeout=120)
        return evaluate(self, program, *args, **kwargs)

    monkeypatch.setattr(PolicyTask, "evaluate", held)
    return release


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_mid_round_keeps_finished_evaluations_and_resume_does_not_rerun_them(tmp_path, monkeypatch, signum):
    model = script(tmp_path)
    reference = promptpo.optimize("gymnasium/CartPole-v1", model, **run_options(tmp_path, "reference"))
    assert reference.status == "completed"

    interrupted_at: dict = {}
    release = held_until(monkeypatch, SLOW_46)  # in flight until the round's other slots are saved, however busy the cores

    def interrupt_when_round_2_is_all_but_its_slow_slot(kind, state):
        saved = {p.stem for p in (Path(state.folder) / "candidates").glob("r01c*.json")}
        if kind == "candidate" and saved == set(ROUND_2[1:]) and not interrupted_at:
            interrupted_at.update(saved=saved, env_steps=state.env_steps)
            release.set()  # the slow program still takes seconds; the signal is handled before this returns
            os.kill(os.getpid(), signum)  # Ctrl-C or `kill`: raised in the main thread, mid-wave

    result = promptpo.optimize("gymnasium/CartPole-v1", model, observer=interrupt_when_round_2_is_all_but_its_slow_slot,
                               **run_options(tmp_path, "runs"))
    run = result.run_dir
    assert result.status == "interrupted" and interrupted_at["saved"] == set(ROUND_2[1:])
    summary = read_json(run / "summary.json")
    records = [read_json(p) for p in (run / "candidates").glob("*.json")]
    assert sorted(r["id"] for r in records) == ["r00c0", "r00c1", "r00c2", "r00c3", *ROUND_2[1:]]
    assert summary["candidates"] == 7 and summary["env_steps"] == sum(r["env_steps"] for r in records) > 0
    assert summary["llm_calls"] == 8 and summary["llm_calls_unanswered"] == 0
    assert candidate_events(run) == ["r00c0", "r00c1", "r00c2", "r00c3"]  # saved after an unfinished slot: not taken in
    kept = {i: (run / "candidates" / f"{i}.json").read_bytes() for i in ROUND_2[1:]}

    evaluated = programs_evaluated(monkeypatch)
    resumed = resume(RunFolder(run))
    assert resumed.status == "completed"
    assert [code.strip() for code in evaluated] == [SLOW_46]  # the one evaluation in flight at Ctrl-C, nothing that had finished
    for id_, data in kept.items():  # not evaluated again: the record, wall time included, is the one saved
        assert (run / "candidates" / f"{id_}.json").read_bytes() == data
    assert recorded(run) == recorded(reference.run_dir)
    # the events of the run stopped and resumed are the uninterrupted run's, in order: ids, best flags, totals
    assert candidate_event_fields(run) == candidate_event_fields(reference.run_dir)
    assert [e["best"] for e in candidate_event_fields(run)][4:6] == [True, True]
    assert RunFolder(run).facts.curve == RunFolder(reference.run_dir).facts.curve


# -- the real CLI: SIGINT, then `promptpo resume` --------------------------------------------------------------

ROUND_1 = {1: 0.1, 2: 0.3, 3: 0.0, 4: 0.2}
REFINED = {"r00c1": 0.6, "r00c3": 0.8, "r00c0": 0.05}
"""Round 2's answers by the candidate their prompt refines; the one refining r00c2 is the slow one."""


def respond(body: dict):
    """The answer depends only on the prompt (which candidate it asks for or refines), so a replay reproduces it."""
    text = json.dumps(body["messages"])
    parent = re.search(r"Improve on candidate (r\d\dc\d)", text)
    if parent:
        return answer(block(SLOW if parent.group(1) == "r00c2" else gain(REFINED[parent.group(1)])))
    slot = int(re.search(r"This is candidate (\d) of 4", text).group(1))
    return answer(block(gain(ROUND_1[slot])))


def cli_args(out: Path, url: str) -> list[str]:
    return ["optimize", "gymnasium/CartPole-v1", "--model", "openai:fake-model", "--api-base", f"{url}/v1",
            "--rounds", "2", "--candidates", "4", "--episodes", "2", "--cascade", "0", "--target", "1000",
            "--seed", "2", "--workers", "2", "--out", str(out)]


def key_env() -> dict:
    return cli_env(OPENAI_API_KEY="sk-test-recording-0123456789")


@pytest.mark.slow
def test_sigint_to_the_cli_mid_round_then_resume_asks_and_evaluates_only_what_was_in_flight(tmp_path):
    with FakeLLMServer(respond, delay=0.2) as server:
        reference = run_cli(*cli_args(tmp_path / "reference", server.url), env=key_env())
        assert reference.returncode == 0, reference.stderr
        asked_by_reference = len(server.requests)
        server.requests.clear()

        out = tmp_path / "runs"
        victim = subprocess.Popen([sys.executable, "-m", "promptpo", *cli_args(out, server.url)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=key_env())
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and victim.poll() is None:
            saved = {p.stem for p in out.glob("*/candidates/r01c*.json")}
            if len(saved) == 3:
                break
            time.sleep(0.05)
        assert len(saved) == 3, victim.communicate()[1]
        slow = next(i for i in ROUND_2 if i not in saved)
        victim.send_signal(signal.SIGINT)
        _, err = victim.communicate(timeout=120)
        assert victim.returncode == 130, err
        run = only_run(out)
        assert err.index(f"run folder: {run}") < err.index("r00c0:")  # said as the run starts, not only at the end
        summary = read_json(run / "summary.json")
        assert summary["status"] == "interrupted" and summary["candidates"] == 7
        assert not (run / "candidates" / f"{slow}.json").exists()
        assert summary["env_steps"] == sum(read_json(p)["env_steps"] for p in (run / "candidates").glob("*.json"))
        kept = {i: (run / "candidates" / f"{i}.json").read_bytes() for i in saved}
        asked_before = len(server.requests)
        assert asked_before == 8 == summary["llm_calls"]

        resumed = run_cli("resume", run.name, "--out", str(out), env=key_env())
        assert resumed.returncode == 0, resumed.stderr
        assert len(server.requests) == asked_before  # every answer of the round came from the run folder
    assert asked_by_reference == 8
    for id_, data in kept.items():  # not evaluated again (a new evaluation has its own wall time)
        assert (run / "candidates" / f"{id_}.json").read_bytes() == data
    assert recorded(run) == recorded(only_run(tmp_path / "reference"))
    # resume shows the run as optimize does: the header, where it is recorded, then each candidate
    err = resumed.stderr
    assert "promptpo: resuming gymnasium/CartPole-v1 with openai:fake-model" in err
    assert err.index(f"run folder: {run}") < err.index("r00c0:") < err.index(f"{slow}:")
    assert all(f"{i}:" in err for i in ["r00c0", "r00c1", "r00c2", "r00c3", *ROUND_2])


# -- the library, unanswered calls ---------------------------------------------------------------------------

def test_a_resumed_run_that_reaches_its_target_joins_the_library(tmp_path):
    path = tmp_path / "answers.jsonl"
    good = "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)"
    path.write_text("".join(json.dumps({"content": block(c)}) + "\n" for c in [gain(0.0), good]))

    stopped: list[str] = []

    def stop_after_the_first(kind, state):
        if kind == "candidate" and not stopped:  # once: a second Ctrl-C could land after the run ended
            stopped.append(state.last)
            os.kill(os.getpid(), signal.SIGINT)

    first = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{path}", rounds=2, candidates=1, episodes=2,
                              out=tmp_path / "runs", observer=stop_after_the_first)
    assert first.status == "interrupted" and first.library_entry is None
    library = Path(os.environ["PROMPTPO_LIBRARY"])
    assert not any(library.iterdir())
    resumed = run_cli("resume", first.run_dir.name, "--out", str(tmp_path / "runs"))
    assert resumed.returncode == 0, resumed.stderr
    assert read_json(first.run_dir / "summary.json")["status"] == "target_reached"
    entries = [read_json(p / "entry.json") for p in library.iterdir()]
    assert [e["run"] for e in entries] == [first.run_dir.name]
    assert "added to the library as" in resumed.stderr


def test_calls_the_scripted_answers_could_not_answer_are_not_counted_as_calls(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"content": block(gain(g))}) + "\n" for g in (0.1, 0.2, 0.3)))
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{path}", "--rounds", "1",
                   "--candidates", "4", "--episodes", "2", "--target", "1000", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr
    run = only_run(tmp_path / "runs")
    summary = read_json(run / "summary.json")
    assert summary["status"] == "answers_exhausted"
    assert summary["llm_calls"] == 3 and summary["llm_calls_unanswered"] == 1 and summary["candidates"] == 3
    assert "LLM calls 3 (+1 sent, not answered)" in proc.stderr
    assert proc.stderr.index(f"run folder: {run}") < proc.stderr.index("r00c0:")  # said before anything is spent


# -- tuning samples ------------------------------------------------------------------------------------------

TUNABLE = """```python
W = 0.05
X = 0.0
TUNABLE = {"W": (-1.0, 1.0), "X": (-1.0, 1.0)}


def act(obs):
    x, v, a, w = obs
    return int(a + W * w + X * x > 0)
```"""
"""A CartPole controller with two declared constants; the target (1000) is out of reach, so a tuning phase
spends its --tune-evals."""


def test_ctrl_c_during_constant_tuning_then_resume_evaluates_only_the_samples_not_yet_run(tmp_path, monkeypatch):
    evaluated = programs_evaluated(monkeypatch)
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"content": TUNABLE}) + "\n")
    options = {"rounds": 1, "candidates": 1, "episodes": 2, "cascade": 0, "target": 1000, "tune_constants": True,
               "tune_share": 1, "tune_evals": 12, "seed": 4, "salt": "s"}
    reference = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{path}", out=tmp_path / "reference", **options)
    samples = len(evaluated) - 1  # the model's one program, then the tuning samples
    assert samples >= 6, samples

    evaluated.clear()
    started: list[str] = []

    def stop_at_the_fifth_sample(kind, state):
        if kind == "evaluating" and state.last.startswith("tuning") and len(started) < 5:
            started.append(state.last)
            if len(started) == 5:  # the main thread runs tuning: Ctrl-C lands before this sample is evaluated
                os.kill(os.getpid(), signal.SIGINT)

    first = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{path}", out=tmp_path / "runs",
                              observer=stop_at_the_fifth_sample, **options)
    assert first.status == "interrupted" and len(evaluated) == 1 + 4
    assert len(list((first.run_dir / "tuning").glob("*.json"))) == len(set(evaluated[1:]))

    evaluated.clear()
    resumed = resume(RunFolder(first.run_dir))
    assert resumed.status == reference.status and len(evaluated) == samples - 4  # the 4 finished are not re-run
    assert recorded(first.run_dir) == recorded(reference.run_dir)


# -- a record that cannot be written ------------------------------------------------------------------------

def test_a_non_finite_number_in_a_record_is_written_as_null_and_named(tmp_path, monkeypatch):
    """JSON has no NaN or inf: a candidate whose record held one is still recorded (the number as null, where it
    was in ``not_finite``) and the run goes on to its other answers."""
    fields = PolicyTask.record_fields

    def odd(self, candidate):
        record = fields(self, candidate)
        if candidate.id == "r00c0":
            record["score"]["std_return"] = float("nan")
            record["evaluation"]["episodes"][1].digest.reward_max = float("inf")
        return record

    monkeypatch.setattr(PolicyTask, "record_fields", odd)
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"content": block(gain(g))}) + "\n" for g in (0.0, 0.1)))
    run = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{path}", rounds=1, candidates=2, episodes=2,
                            cascade=0, target=1000, workers=1, out=tmp_path / "runs")
    assert run.status == "completed"
    first, second = (read_json(run.run_dir / "candidates" / f"{c}.json") for c in ("r00c0", "r00c1"))
    assert first["score"]["std_return"] is None and first["evaluation"]["episodes"][1]["digest"]["reward_max"] is None
    assert first["not_finite"] == ["score.std_return", "evaluation.episodes[1].digest.reward_max"]
    assert "not_finite" not in second and second["outcome"] == "ok"


def test_a_candidate_whose_record_fails_to_write_once_is_counted_once(tmp_path, monkeypatch):
    """Disk full while a slot's candidate is written: the main thread saves it again, and its steps and the
    candidate are counted once (they were counted before the write, then again on the second try)."""
    from promptpo.engine.store import RunStore

    write = RunStore.record_candidate
    failed: list[str] = []

    def full_once(self, candidate_id, code, record):
        if candidate_id == "r00c1" and not failed:
            failed.append(candidate_id)
            raise OSError(28, "No space left on device")
        return write(self, candidate_id, code, record)

    monkeypatch.setattr(RunStore, "record_candidate", full_once)
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"content": block(gain(g))}) + "\n" for g in (0.0, 0.1, 0.3)))
    with pytest.raises(OSError, match="No space left"):
        promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{path}", rounds=1, candidates=3, episodes=2, cascade=0,
                          target=1000, workers=1, out=tmp_path / "runs")
    assert failed == ["r00c1"]
    run = only_run(tmp_path / "runs")
    summary = read_json(run / "summary.json")
    records = [read_json(p) for p in (run / "candidates").glob("*.json")]
    assert sorted(r["id"] for r in records) == ["r00c0", "r00c1", "r00c2"]
    assert summary["candidates"] == 3
    steps = [read_json(run / "candidates" / f"r00c{i}.json")["env_steps"] for i in range(3)]
    assert summary["env_steps"] == sum(steps) and steps[1] == steps[2] == 1000
    assert summary["episodes"] == 6
    events = [e for e in RunFolder(run).events() if e["event"] == "candidate"]
    assert [e["total_env_steps"] for e in events] == [steps[0], steps[0] + 1000, steps[0] + 2000]


# -- a call answered after the run ended -----------------------------------------------------------------------

def test_a_call_answered_after_the_run_ended_logs_no_event_after_run_end(tmp_path, monkeypatch):
    """Ctrl-C while a call is in flight: its daemon thread gets the answer after the run logged run_end. The answer
    may be kept (llm/0002.*, for resume) but nothing is logged after the run's last event."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-recording-0123456789")

    def respond_late_to_the_second(body: dict):
        number = int(re.search(r"This is candidate (\d) of 2", json.dumps(body["messages"])).group(1))
        if number == 2:  # call 2: still in flight when the first candidate is saved and Ctrl-C comes; answered
            deadline = time.monotonic() + 120  # only once the run has logged its end (a fixed 10 s was not always
            while time.monotonic() < deadline and not any(  # enough on 2 busy cores: [2, 1] were logged)
                    '"run_end"' in f.read_text() for f in (tmp_path / "runs").glob("*/events.jsonl")):
                time.sleep(0.05)
        return answer(block(gain(0.1 * number)))

    stopped: list[str] = []

    def stop_at_the_first_candidate(kind, state):
        if kind == "candidate" and not stopped:
            stopped.append(state.last)
            os.kill(os.getpid(), signal.SIGINT)

    with FakeLLMServer(respond_late_to_the_second) as server:
        result = promptpo.optimize("gymnasium/CartPole-v1", "openai:fake-model", api_base=f"{server.url}/v1",
                                   rounds=1, candidates=2, concurrency=2, episodes=2, cascade=0, target=1000,
                                   workers=1, out=tmp_path / "runs", observer=stop_at_the_first_candidate)
        assert result.status == "interrupted"
        run = result.run_dir
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (run / "llm" / "0002.json").exists():
            time.sleep(0.05)
        assert (run / "llm" / "0002.json").exists()  # the late answer arrived (kept for resume)
        time.sleep(0.5)
    events = RunFolder(run).events()
    assert events[-1]["event"] == "run_end" and events[-1]["status"] == "interrupted"
    assert [e["call"] for e in events if e["event"] == "llm_response"] == [1]


# -- which process runs a run ----------------------------------------------------------------------------------

def test_the_summary_names_the_running_process_until_the_run_ends(tmp_path):
    """pid, host, pid_start (/proc/<pid>/stat's start time) and boot_id while the run runs, so a run killed by
    SIGKILL is told from one still running (promptpo.records.liveness); gone once the run records its end."""
    import socket

    seen: list[dict] = []

    def look(kind, state):
        if kind in ("start", "candidate") and state.folder and (Path(state.folder) / "summary.json").exists():
            seen.append(read_json(Path(state.folder) / "summary.json"))

    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"content": block(gain(0.1))}) + "\n")
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{path}", rounds=1, candidates=1, episodes=2,
                               cascade=0, target=1000, out=tmp_path / "runs", observer=look)
    assert seen and all(s["status"] == "running" for s in seen)
    stat = Path(f"/proc/{os.getpid()}/stat").read_text().rpartition(")")[2].split()
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    for summary in seen:
        assert (summary["pid"], summary["host"]) == (os.getpid(), socket.gethostname())
        assert summary["pid_start"] == int(stat[19]) and summary["boot_id"] == boot
    final = read_json(result.run_dir / "summary.json")
    assert final["status"] == "completed"
    assert not {"pid", "host", "pid_start", "boot_id"} & set(final)
