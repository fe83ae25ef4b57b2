"""The library of solved tasks (promptpo.policy.library): added at the end of a solved run, shown to other tasks."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import ANSWERS, cli_env, only_run, run_cli

from promptpo.policy import library
from promptpo.envs import kind, load_spec


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
    shown_alone = run_cli("prompt", "metaworld/push", "--rounds", "1", "--candidates", "1")
    assert shown_alone.returncode == 0, shown_alone.stderr[-2000:]
    sent = json.loads((only_run(tmp_path / "push") / "llm" / "0001.messages.json").read_text())
    printed = re.split(r"^===== (\w+) =====\n", shown_alone.stdout, flags=re.M)[1:]
    assert [(role, text.strip()) for role, text in zip(printed[::2], printed[1::2])] == \
        [(m["role"], m["content"].strip()) for m in sent]  # `promptpo prompt` shows what the run sent, examples too

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


def stored(root: Path, env: str, **fields) -> None:
    """A library entry for ``env`` as `library add` would write it (its summary from the installed spec)."""
    spec = load_spec(env)
    entry = library.Entry(name=env.replace("/", "-"), env=env, family=spec.family, title=spec.title,
                          summary=library.spec_summary(spec), score="299.73123456", success_rate=None,
                          mean_return=299.73123456, verification=None, run="r", seed=0, model="m",
                          added="2026-01-01T00:00:00+00:00", code=f"# the program for {env}\n")
    folder = root / entry.name
    folder.mkdir(parents=True)
    (folder / "policy.py").write_text(entry.code)
    (folder / "entry.json").write_text(json.dumps({**entry.record(), **fields}))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("library")
    for env in ("metaworld/stick-pull", "gymnasium/Hopper-v5", "gymnasium/BipedalWalker-v3",
                "minigrid/KeyCorridorS3R3", "gymnasium/LunarLander-v3"):
        stored(root, env)
    return root


@pytest.mark.parametrize("env, expected", [
    ("gymnasium/LunarLander-v3", ["gymnasium/BipedalWalker-v3"]),  # not stick-pull's program (0.098), nor Hopper's
    ("minigrid/DoorKey-8x8", ["minigrid/KeyCorridorS3R3"]),  # not LunarLander's
    ("gymnasium/Walker2d-v5", ["gymnasium/Hopper-v5"]),
    ("metaworld/reach", ["metaworld/stick-pull"]),
])
def test_only_related_programs_are_shown_same_kind_first(mixed, env, expected):
    spec = load_spec(env)
    shown = library.choose(mixed, spec, None)
    assert [e["env"] for e in shown] == expected
    for e in library.entries(mixed):
        if e.env not in expected and e.env != env:  # what was left out is of another kind and overlaps too little
            assert kind(e.env) != kind(env) and library.overlap(e, spec) < library.MIN_OVERLAP


def test_a_prompt_shows_an_examples_score_rounded_and_why_it_was_chosen(mixed):
    result = run_cli("prompt", "gymnasium/LunarLander-v3", "--library", str(mixed))
    assert result.returncode == 0, result.stderr[-2000:]
    heading = next(line for line in result.stdout.splitlines() if "(gymnasium/BipedalWalker-v3)" in line)
    assert "mean return 299.7;" in heading and "299.73" not in heading and "same kind of environment" in heading
    assert "(metaworld/stick-pull)" not in result.stdout and "from 0.2)" in result.stdout
    none = run_cli("prompt", "gymnasium/LunarLander-v3", "--library", str(mixed), "--examples", "0")
    assert none.returncode == 0 and "Worked examples" not in none.stdout


def test_verify_is_recorded_in_the_library_and_a_missed_target_is_refused(tmp_path):
    """`library list` showed "verified -" after a successful verify, and `library add` took a run that missed its
    target without a word."""
    solved = reach(tmp_path / "runs")  # reaches its target: added to the library by the run
    assert solved.returncode == 0, solved.stderr[-2000:]
    run = only_run(tmp_path / "runs")
    verified = run_cli("verify", run.name, "--episodes", "5", "--out", str(tmp_path / "runs"))
    assert verified.returncode == 0, verified.stderr[-2000:]
    verdict = next(line for line in verified.stdout.splitlines() if line.startswith("ok: "))
    assert "and in library entry metaworld-reach-" in verified.stdout
    [entry] = library.entries(Path(os.environ["PROMPTPO_LIBRARY"]))
    assert entry.verification == verdict
    listed = run_cli("library", "list")
    row = next(line for line in listed.stdout.splitlines() if entry.name in line)
    assert "ok: " in row and " - " not in row.split("metaworld/reach")[1]

    missed = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{ANSWERS / 'cartpole_flat'}",
                     "--rounds", "1", "--candidates", "1", "--out", str(tmp_path / "flat"))
    assert missed.returncode == 0, missed.stderr[-2000:]
    flat = only_run(tmp_path / "flat")
    where = tmp_path / "lib"
    refused = run_cli("library", "add", flat.name, "--out", str(tmp_path / "flat"), "--library", str(where))
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "did not reach its target mean return >= 475" in refused.stderr and "--force" in refused.stderr
    assert not where.exists() or not any(where.iterdir())
    forced = run_cli("library", "add", flat.name, "--force", "--out", str(tmp_path / "flat"), "--library", str(where))
    assert forced.returncode == 0 and "its run missed its target (" in forced.stdout
    assert "(missed its target)" in run_cli("library", "list", "--library", str(where)).stdout
