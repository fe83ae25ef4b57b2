"""The library of solved tasks (promptpo.library): added at the end of a solved run, shown to other tasks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import ANSWERS, cli_env, only_run, run_cli


def reach(out: Path, *extra: str):
    return run_cli("optimize", "metaworld/reach", "--model", f"scripted:{ANSWERS / 'reach'}", "--rounds", "1",
                   "--candidates", "1", "--out", str(out), *extra, env=cli_env(MUJOCO_GL="egl"))


def first_prompt(out: Path) -> str:
    return (only_run(out) / "llm" / "0001.prompt.md").read_text()


def test_a_solved_reach_run_is_added_and_shown_to_push_but_not_with_examples_0(tmp_path):
    library = Path(os.environ["PROMPTPO_LIBRARY"])
    solved = reach(tmp_path / "reach")
    assert solved.returncode == 0, solved.stderr[-2000:]
    assert "added to the library" in solved.stderr
    [entry] = [p for p in library.iterdir()]
    record = json.loads((entry / "entry.json").read_text())
    assert record["env"] == "metaworld/reach" and record["success_rate"] == 1.0
    code = (entry / "policy.py").read_text()
    run = only_run(tmp_path / "reach")
    best = json.loads((run / "summary.json").read_text())["best_candidate"]
    assert code == (run / "candidates" / f"{best}.py").read_text() and record["run"] == run.name

    push = run_cli("optimize", "metaworld/push", "--model", f"scripted:{ANSWERS / 'push'}", "--rounds", "1",
                   "--candidates", "1", "--no-library", "--out", str(tmp_path / "push"), env=cli_env(MUJOCO_GL="egl"))
    assert push.returncode == 0, push.stderr[-2000:]
    prompt = first_prompt(tmp_path / "push")
    assert "# Worked examples from other tasks" in prompt and "(metaworld/reach)" in prompt and code.strip() in prompt
    shown = json.loads((only_run(tmp_path / "push") / "run.json").read_text())["config"]["shown_examples"]
    assert [e["env"] for e in shown] == ["metaworld/reach"]  # recorded, so a resume shows the same
    assert len(list(library.iterdir())) == 1  # --no-library: push was not added

    none = run_cli("optimize", "metaworld/push", "--model", f"scripted:{ANSWERS / 'push'}", "--rounds", "1",
                   "--candidates", "1", "--examples", "0", "--no-library", "--out", str(tmp_path / "none"),
                   env=cli_env(MUJOCO_GL="egl"))
    assert none.returncode == 0 and "Worked examples" not in first_prompt(tmp_path / "none")

    again = reach(tmp_path / "again", "--no-library")  # the same env id is not its own example
    assert again.returncode == 0 and "Worked examples" not in first_prompt(tmp_path / "again")
    same = reach(tmp_path / "same", "--no-library", "--examples-same-task")
    assert same.returncode == 0 and "(metaworld/reach)" in first_prompt(tmp_path / "same")


def test_library_commands_list_show_remove_and_add(tmp_path):
    solved = reach(tmp_path / "runs", "--no-library")
    assert solved.returncode == 0, solved.stderr[-2000:]
    run = only_run(tmp_path / "runs")
    where = tmp_path / "lib"
    added = run_cli("library", "add", run.name, "--out", str(tmp_path / "runs"), "--library", str(where))
    assert added.returncode == 0 and "added metaworld-reach-" in added.stdout
    name = next(where.iterdir()).name
    listed = run_cli("library", "list", "--library", str(where))
    assert name in listed.stdout and "metaworld/reach" in listed.stdout
    shown = run_cli("library", "show", name, "--library", str(where))
    assert shown.returncode == 0 and "summary:" in shown.stdout and "def " in shown.stdout
    bad = run_cli("library", "add", str(tmp_path), "--library", str(where))
    assert bad.returncode != 0 and "is not a run folder" in bad.stderr and "Traceback" not in bad.stderr
    gone = run_cli("library", "remove", name, "--library", str(where))
    assert gone.returncode == 0 and not any(where.iterdir())
    missing = run_cli("library", "remove", name, "--library", str(where))
    assert missing.returncode != 0 and "no library entry" in missing.stderr
