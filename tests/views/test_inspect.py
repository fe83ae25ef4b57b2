"""audit, show, diff, verify, export/load_policy, report and dataset on real run folders."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from conftest import ANSWERS, cli_on, only_run, read_json, run_cli, succeeds_on_reach

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reach_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    proc = run_cli("optimize", "metaworld/reach", "--model", f"scripted:{ANSWERS / 'reach_repair'}",
                   "--candidates", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return only_run(out)


def test_audit_rows_and_flags(reach_run):
    proc = cli_on(reach_run, "audit", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in json.loads(proc.stdout)}
    assert rows["r00c0"]["outcome"] == "syntax_error" and rows["r00c1"]["outcome"] == "crashed"
    assert rows["r00c2"]["parent"] == "r00c1" and rows["r00c2"]["env_steps"] < 500  # 5 episodes ended at success
    assert rows["r00c2"]["episodes"] == 5 and any("5 episodes" in f for f in rows["r00c2"]["flags"])
    table = cli_on(reach_run, "audit")
    assert "r00c2" in table.stdout and "syntax_error" in table.stdout


def test_audit_static_findings(tmp_path):
    answers = tmp_path / "answers"
    answers.mkdir()
    table = ", ".join(str(i) for i in range(80))
    (answers / "001.md").write_text(f"```python\nimport os\nimport numpy as np\nMEMO = [{table}]\nSEEN = {{}}\n"
                                    "def act(obs):\n    SEEN[0] = 1\n    return int(eval('1'))\n```")
    out = tmp_path / "runs"
    run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--out", str(out))
    rows = json.loads(run_cli("audit", only_run(out).name, "--json", "--out", str(out)).stdout)
    findings = " ".join(rows[0]["findings"])
    for expected in ("imports os", "table of 80 numbers", "module-level mutable state", "calls eval()"):
        assert expected in findings


def test_show_candidate_prints_prompt_answer_code_and_episodes(reach_run):
    proc = cli_on(reach_run, "show", "r00c2")
    assert proc.returncode == 0, proc.stderr
    assert "Your last program failed" in proc.stdout  # the exact repair prompt
    assert "The gain attribute was never set" in proc.stdout  # the exact answer
    assert "self.gain = 10.0" in proc.stdout and "episodes" in proc.stdout and "task" in proc.stdout
    missing = cli_on(reach_run, "show", "r09c9")
    assert missing.returncode == 2 and "no candidate 'r09c9'" in missing.stderr


def test_diff_shows_code_and_score_change(reach_run):
    proc = run_cli("diff", reach_run.name, "r00c1", "r00c2", "--out", str(reach_run.parent))
    assert proc.returncode == 0, proc.stderr
    assert "r00c1: no score (crashed)" in proc.stdout and "r00c2: mean return" in proc.stdout
    assert "+        self.gain = 10.0" in proc.stdout


def test_verify_records_a_consistent_score(reach_run):
    proc = cli_on(reach_run, "verify", "--episodes", "50")
    assert proc.returncode == 0, proc.stderr
    assert "ok: verified success rate" in proc.stdout and "Fisher" in proc.stdout  # the run's own metric
    [record] = list((reach_run / "verifications").glob("r00c2-*.json"))
    data = read_json(record)
    assert data["verified"]["episodes"] == 50 and data["verified"]["success_rate"] >= 0.9 and not data["gap"]
    assert data["judged_on"] == "success_rate" and data["p_value"] is not None
    rows = data["episodes"]  # one row per fresh goal: a failed one can be found
    assert len(rows) == 50 and len({r["task"] for r in rows}) == 50
    assert sum(bool(r["success"]) for r in rows) / 50 == data["verified"]["success_rate"]
    assert all(r["steps"] >= 1 and r["ending"] in ("ended at success", "time limit") for r in rows)
    low, high = data["verified"]["success_ci95"]
    assert low < data["verified"]["success_rate"] <= high <= 1  # Clopper-Pearson, never [1, 1] from 50/50
    run_tasks = {e["extras"]["task"] for e in read_json(reach_run / "run.json")["episodes"]}
    assert data["seed"] != read_json(reach_run / "run.json")["seed"] and len(run_tasks) == 5
    events = [json.loads(line) for line in (reach_run / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "verification" and events[-1]["candidate"] == "r00c2"


def lucky_seed() -> int:
    """A run seed whose evaluation episodes all start with the cart right of centre."""
    from promptpo.envs import load_spec
    from promptpo.seeds import episode_secret

    spec = load_spec("gymnasium/CartPole-v1")
    env = spec.make_env(0)
    for seed in range(200):  # drawn as the run will draw them: with this user's episode secret
        if all(spec.reset(env, e)[0][0] > 0 for e in spec.episodes(seed, 3, episode_secret())):
            return seed
    raise AssertionError("no lucky seed")


def test_verify_flags_a_lucky_policy(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{ANSWERS / 'cartpole_lucky'}",
                   "--episodes", "3", "--seed", str(lucky_seed()), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    assert read_json(run / "summary.json")["best_score"] == 500.0  # perfect on its own episodes
    verified = run_cli("verify", run.name, "--out", str(out))
    assert verified.returncode == 0, verified.stderr
    assert "GAP:" in verified.stdout and "lucky or overfit" in verified.stdout and "Welch" in verified.stdout
    verdicts = [l for l in verified.stdout.splitlines() if re.match(r"(ok|GAP|FAILED):", l)]
    assert len(verdicts) == 1 and "[ok]" not in verified.stdout  # one verdict, worded once
    recorded = next(l for l in verified.stdout.splitlines() if l.startswith("recorded:"))
    assert "over 3 episodes" in recorded and "95% interval of the mean" in recorded


def test_a_small_sample_gets_an_interval_that_means_what_it_says():
    """Three episodes [265.99, 265.58, 265.20] were shown "(95% CI 265.20 to 265.99)": their minimum and maximum.
    The interval is Student-t's (the one the Welch test inverts): wider than the sample at n = 3."""
    from promptpo.policy.verify import interval_text, score_of

    score = score_of([265.99, 265.58, 265.20], [None] * 3)
    low, high = score.return_ci95
    assert low < 265.20 - 0.3 and high > 265.99 + 0.3
    for mu in (low + 1e-6, high - 1e-6):  # the t-test does not reject a mean just inside it
        assert scipy_stats.ttest_1samp([265.99, 265.58, 265.20], mu).pvalue >= 0.05
    assert "too few episodes for an interval" in interval_text(score_of([265.99], [None]))
    rate = score_of([1.0] * 5, [True] * 5)
    assert "of the success rate 0.48 to 1.00" in interval_text(rate)  # 5 of 5 is not a certainty


@pytest.mark.parametrize("check, line", [
    ({"outcome": "timeout", "gap": True, "verdict": "the candidate did not run cleanly on the fresh episodes (timeout)"},
     "FAILED: the candidate did not run cleanly on the fresh episodes (timeout)"),
    ({"outcome": "timeout", "gap": True, "verdict": "FAILED: the candidate did not run cleanly (timeout)"},
     "FAILED: the candidate did not run cleanly (timeout)"),  # recorded before: worded once still
    ({"outcome": "ok", "gap": True, "verdict": "verified mean return 9 is significantly below"},
     "GAP: verified mean return 9 is significantly below"),
    ({"outcome": "ok", "gap": False, "verdict": "not significantly different"}, "ok: not significantly different"),
    ({"gap": True, "verdict": "FAILED: the schedule did not run cleanly on a fresh seed (x)"},
     "FAILED: the schedule did not run cleanly on a fresh seed (x)"),
])
def test_a_verification_has_one_verdict(check, line):
    from promptpo.records import headline

    assert headline(check) == line


@pytest.mark.parametrize("by_success, recorded, verified, gap, words", [
    (True, [1.0] * 10, [1.0] * 50, False, "not significantly different"),
    (True, [1.0] * 10, [1.0] * 20 + [0.0] * 30, True, "significantly below"),
    (True, [1.0] * 3 + [0.0] * 7, [1.0] * 45 + [0.0] * 5, False, "significantly above"),
    (False, [100.0, 102.0, 98.0], [101.0, 99.0, 100.0, 103.0], False, "not significantly different"),
    (False, [500.0, 500.0, 500.0], [120.0, 80.0, 200.0, 150.0], True, "significantly below"),
    (False, [10.0, 12.0, 11.0], [500.0, 480.0, 490.0, 495.0], False, "significantly above"),
])
def test_verify_judges_the_runs_metric_one_sided(by_success, recorded, verified, gap, words):
    from promptpo.policy.verify import judge

    found, verdict, test, p = judge("ok", by_success, recorded, verified)
    assert found is gap and words in verdict and ("Fisher" if by_success else "Welch") in test
    assert ("lucky or overfit" in verdict) is gap and p is not None


def test_a_better_return_does_not_flag_a_success_rate_run():
    from promptpo.policy.verify import judge

    # success held (1.00 -> 1.00) while the return moved (3752.9 -> 3768.0): judged on success, so no gap (the
    # button-press report); the returns are not what is tested
    found, verdict, _, _ = judge("ok", True, [1.0] * 10, [1.0] * 50)
    assert not found and "success rate" in verdict


def test_export_and_load_policy_in_a_plain_gymnasium_loop(reach_run, tmp_path):
    import promptpo

    path = tmp_path / "policy.py"
    proc = cli_on(reach_run, "export", "-o", str(path))
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert text.startswith("# promptpo policy") and "recorded score" in text and "env: metaworld/reach" in text
    assert succeeds_on_reach(promptpo.load_policy(path), seed=3, steps=150)
    broken = cli_on(reach_run, "export", "r00c1", "-o", str(tmp_path / "x.py"))
    assert broken.returncode == 2 and "did not run cleanly" in broken.stderr


def test_dataset_export(reach_run, tmp_path):
    path = tmp_path / "data.jsonl"
    proc = run_cli("dataset", "export", reach_run.name, "-o", str(path), "--out", str(reach_run.parent))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3
    assert [m["role"] for m in lines[0]["messages"]] == ["system", "user", "assistant"]
    assert lines[2]["messages"][2]["content"] == (reach_run / "llm" / "0003.response.md").read_text()
    assert [line["metadata"]["improved_on_parent"] for line in lines] == [None, False, True]
    assert lines[2]["metadata"]["success_rate"] == 1.0


def test_report_without_output_goes_into_the_run_folder(reach_run):
    proc = cli_on(reach_run, "report")
    assert proc.returncode == 0, proc.stderr
    page = reach_run / "report.html"
    assert page.is_file() and str(page) in proc.stdout and "r00c2" in page.read_text()


def test_report_renders_in_headless_chromium(reach_run, tmp_path):
    page = tmp_path / "report.html"
    proc = cli_on(reach_run, "report", "-o", str(page))
    assert proc.returncode == 0, proc.stderr
    html = page.read_text()
    for text in ("r00c0", "r00c1", "r00c2", 'id="chart-data"', "class='tree'", "self.gain = 10.0", "LLM calls"):
        assert text in html
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=", html)  # self-contained: plotly.js is inlined
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is needed for this test: scripts/test installs it")
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[:, :, :3]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    ink = np.mean(np.any(pixels < 0.9, axis=2))  # share of pixels that are not (near) white
    assert 0.01 < ink < 0.9 and pixels.std() > 0.05


@pytest.mark.parametrize("command", [["audit"], ["verify"], ["export", "-o", "x.py"], ["report", "-o", "x.html"],
                                     ["show"], ["resume"]])
def test_missing_or_corrupt_runs_exit_2(tmp_path, command):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "run.json").write_text("{\"env\": ")
    for run in ("no-such-run", str(corrupt)):
        proc = run_cli(command[0], run, *command[1:], cwd=tmp_path)
        assert proc.returncode == 2, (command, run, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("promptpo: error:") and "Traceback" not in proc.stderr


def test_verify_keeps_the_batches_a_candidate_finished_before_it_failed():
    from promptpo.envspec import Episode
    from promptpo.policy.evaluation import EpisodeResult, Evaluation, Fault
    from promptpo.outcome import Outcome
    from promptpo.policy.verify import BATCH, in_batches, judge

    class Scripted:  # fails in its third batch, as a candidate that crashes on one late goal would
        def __init__(self):
            self.batches = []

        def evaluate(self, code, episodes):
            self.batches.append([e.index for e in episodes])
            if len(self.batches) == 3:
                fault = Fault(Outcome.TIMEOUT, "act() did not return within 5 s", "", episodes[0].index, 7)
                return Evaluation(Outcome.TIMEOUT, [EpisodeResult(e.index, e.seed, {}, length=7) for e in episodes],
                                  7 * len(episodes), 1.0, fault)
            return Evaluation(Outcome.OK, [EpisodeResult(e.index, e.seed, {}, 1.0, 10, True, 3, True, False, True)
                                           for e in episodes], 10 * len(episodes), 1.0)

    evaluator = Scripted()
    result = in_batches(evaluator, "code", [Episode(i, 100 + i, {}) for i in range(5 * BATCH)])
    assert evaluator.batches[0] == list(range(BATCH)) and len(evaluator.batches) == 3  # none after the failure
    assert result.outcome is Outcome.TIMEOUT and result.fault.episode == 2 * BATCH
    done = [e for e in result.episodes if e.completed]
    assert len(done) == 2 * BATCH and result.env_steps == 2 * BATCH * 10 + BATCH * 7
    gap, verdict, _, _ = judge(str(result.outcome), True, [1.0] * 5, [1.0] * len(done))
    assert gap and "timeout" in verdict and f"the {2 * BATCH} episodes it finished first are kept" in verdict
