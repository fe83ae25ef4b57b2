"""The islands search (promptpo.search.islands): islands recorded, migration on schedule, resume rebuilds them."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli_env, read_json, run_cli

# CartPole controllers of different quality and action style, one answer per call, in order
GAINS = [("a", 0), ("a + 0.1 * w", 1), ("a + 0.5 * w", 2), ("1", 0), ("a + 0.3 * w", 3), ("x", 0),
         ("a + w + 0.1 * v", 1), ("a + 0.5 * w + 0.01 * x", 2)]


def write_answers(folder: Path, n: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rule, _ = GAINS[i % len(GAINS)]
        body = "return 1" if rule == "1" else f"return int({rule} > 0)"
        (folder / f"{i + 1:03d}.md").write_text(f"```python\ndef act(obs):\n    x, v, a, w = obs\n    {body}\n```\n")
    return f"scripted:{folder}"


def optimize(out: Path, model: str, rounds: int, *extra: str):
    return run_cli("optimize", "gymnasium/CartPole-v1", "--model", model, "--rounds", str(rounds), "--candidates",
                   "4", "--episodes", "2", "--target", "501", "--search", "islands", "--islands", "2",
                   "--migrate-every", "2", "--out", str(out), *extra, env=cli_env())


def records(run: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (run / "candidates").glob("*.json")}


def test_islands_are_recorded_migrate_on_schedule_and_parents_stay_home(tmp_path):
    done = optimize(tmp_path / "runs", write_answers(tmp_path / "answers", 16), 4)
    assert done.returncode == 0, done.stderr[-2000:]
    run = next((tmp_path / "runs").iterdir())
    db = read_json(run / "search.json")
    assert db["search"] == "islands" and db["after_round"] == 3 and len(db["population"]) == 2
    members = [set(i["members"]) for i in db["population"]]
    cands = records(run)
    assert members[0] | members[1] == set(cands) and not members[0] & members[1]  # each candidate on one island
    assert {c for c in members[0] if c.startswith("r00")} == {"r00c0", "r00c2"}  # round 0: slot k on island k % 2
    # migration at round 2 only (every 2 rounds; the run has rounds 0-3): each island's best so far moves on
    assert {m["round"] for m in db["migrations"]} == {2}
    for m in db["migrations"]:
        island = db["population"][m["to"]]
        assert m["id"] in island["migrants"] and m["id"] in db["population"][m["from"]]["members"]
        assert int(m["id"][1:3]) < 2  # the best *before* the migration round
    # slot k of a later round refines a member or migrant of island k % 2, and the child lives there too
    for cid, c in cands.items():
        if c["kind"] == "refine":
            home = int(cid[-1]) % 2
            assert cid in db["population"][home]["members"]
            allowed = set(db["population"][home]["members"]) | set(db["population"][home]["migrants"])
            assert c["parent"] in allowed, (cid, c["parent"])
    assert db["occupied_cells"] >= 2 and all(i["cells"] for i in db["population"])
    prompts = [p.read_text() for p in sorted((run / "llm").glob("*.prompt.md"))][4:]
    assert any("INSPIRATION" in p for p in prompts)  # another elite shown next to the parent


def test_resume_rebuilds_the_same_islands(tmp_path):
    whole = optimize(tmp_path / "whole", write_answers(tmp_path / "all", 16), 4)
    assert whole.returncode == 0, whole.stderr[-2000:]
    partial = tmp_path / "partial"
    model = write_answers(partial / "answers", 9)  # runs out in round 2
    cut = optimize(partial / "runs", model, 4)
    assert cut.returncode == 0, cut.stderr[-2000:]
    run = next((partial / "runs").iterdir())
    summary = read_json(run / "summary.json")
    assert summary["status"] == "answers_exhausted"
    (run / "summary.json").write_text(json.dumps({**summary, "status": "running"}))  # as if it had died there
    write_answers(partial / "answers", 16)
    resumed = run_cli("resume", run.name, "--out", str(partial / "runs"), env=cli_env())
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    reference = next((tmp_path / "whole").iterdir())
    assert read_json(run / "search.json") == read_json(reference / "search.json")
    assert {k: v["parent"] for k, v in records(run).items()} == {k: v["parent"] for k, v in records(reference).items()}


def test_a_run_that_stops_mid_round_records_its_last_round(tmp_path):
    folder = tmp_path / "answers"
    write_answers(folder, 8)
    (folder / "006.md").write_text("```python\ndef act(obs):\n    x, v, a, w = obs\n    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)\n```\n")
    done = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{folder}", "--rounds", "2",
                   "--candidates", "4", "--episodes", "2", "--search", "islands", "--concurrency", "1",
                   "--out", str(tmp_path / "runs"), env=cli_env())
    assert done.returncode == 0, done.stderr[-2000:]
    run = next((tmp_path / "runs").iterdir())
    summary = read_json(run / "summary.json")
    assert summary["status"] == "target_reached" and summary["candidates"] < 8  # stopped before its round's end
    db = read_json(run / "search.json")
    best = summary["best_candidate"]
    assert db["after_round"] == int(best[1:3]) and best in {m for i in db["population"] for m in i["members"]}


def test_greedy_writes_no_search_database(tmp_path):
    done = run_cli("optimize", "gymnasium/CartPole-v1", "--model", write_answers(tmp_path / "a", 2), "--rounds", "2",
                   "--candidates", "1", "--episodes", "2", "--target", "10000", "--out", str(tmp_path / "runs"),
                   env=cli_env())
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (next((tmp_path / "runs").iterdir()) / "search.json").exists()
