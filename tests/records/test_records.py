"""promptpo.records on run folders written by the real commands: one reader that tolerates what a kill leaves,
one set of facts (best by the rank key, steps to target, curves from 0, seeds) that `runs`, `show` and
`compare` all show."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ANSWERS, cli_env, run_cli
from promptpo.records import RunFolder, run_folders

NEAR_MISS = "reach_near_miss"
"""r00c0 stops 10 cm beside the goal (no success, return ~3,300 over 2 episodes, stopped by the cascade), r00c1
reaches it (success 1.00, return ~187): the best is r00c1."""


def optimize(out: Path, env: str, answers: str, *extra: str) -> Path:
    before = set(out.iterdir()) if out.exists() else set()
    proc = run_cli("optimize", env, "--model", f"scripted:{ANSWERS / answers}", "--out", str(out), "--no-library",
                   *extra)
    assert proc.returncode == 0, proc.stderr
    [made] = set(out.iterdir()) - before
    return made


def ppo(out: Path, steps: int, interrupt: bool = False) -> Path:
    """A PPO baseline of one seed; ``interrupt``: Ctrl-C once it has logged two evaluations."""
    before = set(out.iterdir())
    proc = subprocess.Popen([sys.executable, "-m", "promptpo", "baseline", "ppo", "gymnasium/CartPole-v1", "--steps",
                             str(steps), "--seeds", "1", "--workers", "1", "--eval-episodes", "2", "--out", str(out)],
                            env=cli_env(), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if interrupt:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            curves = [p / "curve.jsonl" for p in set(out.iterdir()) - before if (p / "curve.jsonl").is_file()]
            if curves and len(curves[0].read_text().splitlines()) >= 2:
                break
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=300)
    [made] = set(out.iterdir()) - before
    return made


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("corpus")
    runs = {"reach": optimize(out, "metaworld/reach", NEAR_MISS, "--candidates", "2"),
            "cartpole": optimize(out, "gymnasium/CartPole-v1", "cartpole")}
    runs["repeat"] = optimize(out, "gymnasium/CartPole-v1", "cartpole")  # the same --seed 0 again
    runs["other answers"] = optimize(out, "gymnasium/CartPole-v1", "cartpole_lucky")
    runs["ppo"] = ppo(out, 1024)
    runs["interrupted ppo"] = ppo(out, 60_000, interrupt=True)
    return {"out": out, **runs}


def copy(corpus: dict[str, Path], tmp_path: Path, *names: str) -> Path:
    out = tmp_path / "runs"
    for name in names or [k for k in corpus if k != "out"]:
        shutil.copytree(corpus[name], out / corpus[name].name)
    return out


def compare_json(*args: str) -> dict:
    proc = run_cli("compare", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_best_is_the_rank_keys_not_the_highest_return(corpus, tmp_path):
    lost = copy(corpus, tmp_path, "reach") / corpus["reach"].name
    (lost / "summary.json").unlink()  # derived from the candidate records alone
    assert RunFolder(lost).facts.best == RunFolder(corpus["reach"]).summary["best_candidate"]
    run = RunFolder(corpus["reach"])
    stopped, reached = run.candidates
    assert stopped["score"]["mean_return"] > 10 * reached["score"]["mean_return"]  # ~3,300 vs ~187
    assert stopped["score"]["success_rate"] == 0.0 and reached["score"]["success_rate"] == 1.0
    facts = run.facts
    assert facts.best == reached["id"] == run.summary["best_candidate"]
    assert facts.best_score == pytest.approx(reached["score"]["mean_return"]) and facts.best_success == 1.0
    shown = run_cli("show", corpus["reach"].name, "--out", str(corpus["out"])).stdout
    assert f"best_candidate    │ {reached['id']}" in shown
    [group] = [g for g in compare_json(str(corpus["reach"]))["groups"]]
    assert group["final_return"]["values"] == [pytest.approx(reached["score"]["mean_return"])]


def test_steps_to_target_are_what_the_run_spent_until_the_evaluation_that_reached_it(corpus):
    run = RunFolder(corpus["reach"])
    spent = sum(r["env_steps"] for r in run.candidates)  # the stopped candidate's steps came first
    assert run.candidates[0]["env_steps"] > 0 and run.facts.steps_to_target == spent
    [group] = compare_json(str(corpus["reach"]))["groups"]
    assert group["steps_to_target"] == [spent]
    assert f"steps_to_target   │ {spent:,}" in run_cli("show", str(corpus["reach"])).stdout


def test_curves_start_at_zero_env_steps(corpus):
    for name in ("reach", "cartpole", "ppo"):
        curve = RunFolder(corpus[name]).facts.curve
        assert curve[0].env_steps == 0 and curve[0].mean_return is None, name
        assert all(a.env_steps <= b.env_steps for a, b in zip(curve, curve[1:]))
    reach = RunFolder(corpus["reach"]).facts
    assert [p.env_steps for p in reach.curve] == [0, reach.steps_to_target]  # no best before it
    assert reach.area() == pytest.approx(reach.best_score)  # its first value stands for the span before it


def test_a_last_line_cut_short_by_a_kill_is_left_out(corpus, tmp_path):
    out = copy(corpus, tmp_path, "cartpole", "reach")
    events = out / corpus["cartpole"].name / "events.jsonl"
    whole = RunFolder(events.parent).facts
    with open(events, "a") as handle:
        handle.write('{"t": "2026-12-06T10:00:00", "event": "candid')
    run = RunFolder(events.parent)
    assert run.facts.best == whole.best and run.facts.curve == whole.curve
    assert any("cut short" in p for p in run.problems)
    listed = run_cli("runs", "--out", str(out))
    assert listed.returncode == 0 and corpus["cartpole"].name in listed.stdout
    # a bad line in the middle is a corrupt folder: that run says so, the others are still listed
    text = (out / corpus["reach"].name / "events.jsonl").read_text().split("\n")
    (out / corpus["reach"].name / "events.jsonl").write_text("\n".join([text[0], "{not json", *text[1:]]))
    listed = run_cli("runs", "--out", str(out))
    assert listed.returncode == 0 and "unreadable" in listed.stdout and corpus["cartpole"].name in listed.stdout


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_lost_summary_is_rebuilt_listed_and_resumable(corpus, tmp_path, damage):
    out = copy(corpus, tmp_path, "cartpole", "reach")
    folder = out / corpus["cartpole"].name
    before = json.loads((folder / "summary.json").read_text())
    if damage == "corrupt":
        (folder / "summary.json").write_text('{"run_id": "cut sh')
    else:
        (folder / "summary.json").unlink()
    run = RunFolder(folder)
    assert run.recovered and run.facts.recovered
    for key in ("status", "best_candidate", "env_steps", "episodes", "prompt_tokens", "best_score"):
        assert run.summary[key] == before[key], key
    listed = run_cli("runs", "--out", str(out))
    assert listed.returncode == 0 and "summary rebuilt" in listed.stdout and corpus["reach"].name in listed.stdout
    data = compare_json(str(out / "*"))
    assert any(folder.name in g["runs"] for g in data["groups"])  # it finished: compare counts it
    # killed before its end: no run_end, its candidate's record lost; events.jsonl is whole
    lines = [line for line in (folder / "events.jsonl").read_text().splitlines() if '"run_end"' not in line]
    (folder / "events.jsonl").write_text("".join(line + "\n" for line in lines))
    for path in (folder / "candidates").iterdir():
        path.unlink()
    assert RunFolder(folder).summary["status"] == "interrupted"
    resumed = run_cli("resume", folder.name, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((folder / "summary.json").read_text())["status"] == "target_reached"


def test_bench_run_folders_are_listed_and_found(corpus, tmp_path):
    out = copy(corpus, tmp_path, "cartpole")
    deep = out / "benches" / "suite" / "promptpo" / "reach" / "seed-0"
    shutil.copytree(corpus["reach"], deep / corpus["reach"].name)
    assert len(run_folders(out)) == 2
    listed = run_cli("runs", "--out", str(out))
    assert listed.returncode == 0 and corpus["reach"].name in listed.stdout
    assert "folder" in listed.stdout and "benches/" in listed.stdout  # where it is under --out
    shown = run_cli("show", corpus["reach"].name, "--out", str(out))
    assert shown.returncode == 0 and "metaworld/reach" in shown.stdout
    assert {g["env"] for g in compare_json(str(out / "*"))["groups"]} == {"metaworld/reach", "gymnasium/CartPole-v1"}


def test_seeds_are_seeds(corpus):
    data = compare_json(str(corpus["out"] / "*"))
    cartpole = {g["method"]: g for g in data["groups"] if g["env"] == "gymnasium/CartPole-v1"}
    ours = cartpole[f"promptpo (scripted:{ANSWERS / 'cartpole'})"]
    assert ours["n"] == 1 and ours["seeds"] == [0]  # two runs of --seed 0: one seed, and a repeat
    assert f"promptpo (scripted:{ANSWERS / 'cartpole_lucky'})" in cartpole  # another answer set: another method
    assert cartpole["ppo"]["n"] == 1 and cartpole["ppo"]["runs"] == [corpus["ppo"].name]
    excluded = "\n".join(data["excluded"])
    assert f"{corpus['repeat'].name} " in excluded and "a repeat of seed 0" in excluded
    assert f"{corpus['interrupted ppo'].name} " in excluded and "interrupted at" in excluded \
        and "of 60,000 env steps" in excluded
    table = run_cli("compare", str(corpus["out"] / "*")).stdout
    assert "left out (2 runs)" in table and "--include-unfinished" in table
    assert "fewer than 2 seeds per side" not in table
    included = compare_json(str(corpus["out"] / "*"), "--include-unfinished", "--allow-different-grids")
    assert not any("not finished" in line for line in included["excluded"])
    assert {"ppo [steps=1024]", "ppo [steps=60000]"} <= {g["method"] for g in included["groups"]}  # other budgets


def test_compare_plots_envs_with_and_without_ppo(corpus, tmp_path):
    png = tmp_path / "curves.png"
    proc = run_cli("compare", str(corpus["out"] / "*"), "--plot", str(png))  # PPO on CartPole only
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [(["show", "no-such-run"], "no run folder 'no-such-run'"),
                                           (["compare", "EMPTY/*"], "no run folder matches")])
def test_bad_input_is_one_line(tmp_path, args, message):
    args = [a.replace("EMPTY", str(tmp_path)) for a in args]
    proc = run_cli(*args, "--out", str(tmp_path))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_a_training_has_no_program_and_says_what_it_has(corpus, tmp_path):
    run = RunFolder(corpus["ppo"])
    facts = run.facts
    assert facts.model_zip is not None and facts.best is None and facts.finished
    assert facts.final_return == run.curve()[-1]["mean_return"] == facts.curve[-1].mean_return
    proc = run_cli("export", corpus["ppo"].name, "-o", str(tmp_path / "p.py"), "--out", str(corpus["out"]))
    assert proc.returncode == 2 and "PPO baseline" in proc.stderr and "model.zip" in proc.stderr
    assert "Traceback" not in proc.stderr and "no scored candidate" not in proc.stderr


def test_calls_are_a_models_answers(corpus, tmp_path):
    run = RunFolder(corpus["cartpole"])
    sent, answered = run.calls()
    assert (run.facts.calls_sent, run.facts.calls_answered) == (len(sent), len(answered)) and answered
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", "offline", "--rounds", "1", "--out",
                   str(tmp_path), "--no-library")
    assert proc.returncode == 0, proc.stderr
    [folder] = [p for p in tmp_path.iterdir() if (p / "run.json").is_file()]
    offline = RunFolder(folder)
    assert offline.calls()[1]  # its proposals are recorded in llm/ (for resume), but no model was asked
    assert offline.facts.calls_answered == offline.facts.calls_sent == offline.summary["llm_calls"] == 0
    assert compare_json(str(folder))["groups"][0]["llm_calls"]["values"] == [0]


def test_an_unreadable_folder_does_not_stop_compare_of_the_others(corpus, tmp_path):
    out = copy(corpus, tmp_path, "cartpole", "ppo")
    (out / "broken").mkdir()
    (out / "broken" / "run.json").write_text("{not json")
    proc = run_cli("compare", str(out / "*"))
    assert proc.returncode == 0, proc.stderr
    assert "broken: unreadable" in proc.stdout and "not valid JSON" in proc.stdout and "ppo" in proc.stdout
    alone = run_cli("compare", str(out / "broken"))
    assert alone.returncode == 2 and "not valid JSON" in alone.stderr and "Traceback" not in alone.stderr


def test_the_library_adds_a_run_whose_summary_was_lost(corpus, tmp_path):
    out = copy(corpus, tmp_path, "cartpole")
    folder = out / corpus["cartpole"].name
    best = RunFolder(folder).summary["best_candidate"]
    (folder / "summary.json").write_text("{")
    proc = run_cli("library", "add", folder.name, "--out", str(out))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    listed = run_cli("library", "list").stdout
    assert folder.name[-4:] in listed
    assert RunFolder(folder).code(best) in "".join(p.read_text() for p in Path(os.environ["PROMPTPO_LIBRARY"]).glob(
        "*/policy.py"))
