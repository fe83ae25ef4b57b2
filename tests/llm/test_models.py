"""Several models in one run (promptpo.llm.mixture): weighted choice, a bandit on improvements, per-model records."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ANSWERS, cli_env, only_run, run_cli
from promptpo.errors import ConfigError
from promptpo.engine.replay import ReplayBackend
from promptpo.llm import GenParams, make_backend
from promptpo.llm.base import Backend, Completion, Request
from promptpo.llm.mixture import Mixture, split_models
from promptpo.search import make_proposer

WEAK = "```python\ndef act(obs):\n    x, v, a, w = obs\n    return int(a > 0)\n```"
CRASH = "```python\ndef act(obs):\n    return 1 / 0\n```"


def answers(folder: Path, answer: str, n: int) -> str:
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        (folder / f"{i:03d}.md").write_text(answer)
    return f"scripted:{folder}"


def optimize(tmp_path, *models: str, selection: str = "weighted", rounds: int = 10) -> Path:
    args = [a for m in models for a in ("--model", m)]
    done = run_cli("optimize", "gymnasium/CartPole-v1", *args, "--model-selection", selection, "--rounds",
                   str(rounds), "--candidates", "4", "--episodes", "2", "--max-repairs", "0", "--target", "10000",
                   "--out", str(tmp_path / "runs"), env=cli_env(MUJOCO_GL="egl"))
    assert done.returncode == 0, done.stderr[-2000:]
    return only_run(tmp_path / "runs")


def members_per_call(run: Path) -> list[str]:
    metas = sorted((run / "llm").glob("[0-9][0-9][0-9][0-9].json"))
    return [json.loads(p.read_text())["member"] for p in metas]


def test_two_scripted_models_are_both_used_in_their_weights_proportion(tmp_path):
    a = answers(tmp_path / "a", WEAK, 40)
    b = answers(tmp_path / "b", WEAK.replace("a > 0", "a + 0.1 * w > 0"), 40)
    run = optimize(tmp_path, a, f"{b}@3")
    chosen = members_per_call(run)
    assert len(chosen) == 40 and set(chosen) == {a, b}
    share = chosen.count(b) / 40
    assert 0.6 <= share <= 0.9  # weight 3 of 4: 0.75 expected
    summary = json.loads((run / "summary.json").read_text())
    members = summary["models"]["members"]
    assert summary["models"]["selection"] == "weighted"
    assert members[a]["calls"] == chosen.count(a) and members[b]["calls"] == chosen.count(b)
    assert members[a]["completion_tokens"] + members[b]["completion_tokens"] == summary["completion_tokens"]
    assert members[b]["cost_usd"] == 0.0  # scripted answers cost nothing
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    responses = sorted((e["call"], e["member"]) for e in events if e["event"] == "llm_response")
    assert [member for _, member in responses] == chosen
    shown = run_cli("show", run.name, "--out", str(run.parent))
    assert shown.returncode == 0 and "models" in shown.stdout and "calls" in shown.stdout
    again = optimize(tmp_path / "again", a, f"{b}@3")
    assert members_per_call(again) == chosen  # chosen by run seed and call number: a re-run chooses the same


def test_the_bandit_prefers_the_model_whose_candidates_improve(tmp_path):
    good = answers(tmp_path / "good", WEAK, 40)
    bad = answers(tmp_path / "bad", CRASH, 40)
    run = optimize(tmp_path, bad, good, selection="bandit")
    chosen = members_per_call(run)
    assert chosen[:2] == [bad, good]  # each tried once first, in the order given
    assert chosen.count(good) > chosen.count(bad) >= 2  # it keeps exploring, but mostly asks the one that helps
    summary = json.loads((run / "summary.json").read_text())["models"]["members"]
    assert summary[bad]["improvements"] == 0 and summary[good]["improvements"] >= 1
    # the choices follow the recorded improvements: a fresh bandit fed the same records chooses the same
    calls = {json.loads(p.read_text())["id"]: json.loads(p.read_text())["llm_call"]
             for p in (run / "candidates").glob("*.json")}
    replayed = Mixture([(make_backend(bad, GenParams()), 1.0), (make_backend(good, GenParams()), 1.0)], "bandit")
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    for e in events:
        if e["event"] == "llm_request":
            replayed.prepare(Request((), GenParams(), e["call"]))
        elif e["event"] == "candidate":
            replayed.credit(calls[e["id"]], e["improved"])
    assert [replayed.chosen[c].backend.label for c in sorted(replayed.chosen)] == chosen


def test_bandit_unit_choices_follow_credits():
    def backend(name):
        return make_backend(f"scripted:{ANSWERS / name}", GenParams())

    mix = Mixture([(backend("cartpole"), 1.0), (backend("reach"), 1.0)], "bandit")
    picks = []
    for call in range(1, 41):
        mix.prepare(Request((), GenParams(), call))
        member = mix.chosen[call]
        picks.append(mix.members.index(member))
        mix.credit(call, improved=member is mix.members[1])
    assert picks[:2] == [0, 1] and picks.count(1) >= 30 and 1 <= picks.count(0) <= 10


@pytest.mark.parametrize("model, says", [
    ("a/x,a/x", "named twice"), ("a/x@0,b/y", "positive"), (",b/y", "empty model"),
])
def test_bad_model_lists_are_one_line_errors(model, says):
    with pytest.raises(ConfigError) as err:
        split_models(model)
    assert says in str(err.value)


def test_a_dated_version_is_part_of_the_name_not_a_weight():
    assert split_models("vertex_ai/claude@20240620,b/y@0.5") == [("vertex_ai/claude@20240620", 1.0), ("b/y", 0.5)]
    with pytest.raises(ConfigError, match="cannot be mixed"):
        make_proposer("offline,manual", GenParams())


def test_the_cli_says_what_was_wrong_with_a_weight(tmp_path):
    done = run_cli("optimize", "gymnasium/CartPole-v1", "--model", "a/x", "--model", "a/x", "--out", str(tmp_path))
    assert done.returncode != 0 and "named twice" in done.stderr and "Traceback" not in done.stderr


def test_resume_makes_the_same_choices(tmp_path):
    def members(folder: Path, n: int) -> tuple[str, str]:
        return (answers(folder / "good", WEAK, n) if not (folder / "good").exists() else f"scripted:{folder / 'good'}",
                answers(folder / "bad", CRASH, n) if not (folder / "bad").exists() else f"scripted:{folder / 'bad'}")

    whole = optimize(tmp_path / "whole", *members(tmp_path / "whole", 40), selection="bandit")
    cut_dir = tmp_path / "cut"
    good, bad = members(cut_dir, 10)  # both run out at call 11, in round 2
    done = run_cli("optimize", "gymnasium/CartPole-v1", "--model", good, "--model", bad, "--model-selection",
                   "bandit", "--rounds", "10", "--candidates", "4", "--episodes", "2", "--max-repairs", "0",
                   "--target", "10000", "--out", str(cut_dir / "runs"), env=cli_env())
    assert done.returncode == 0, done.stderr[-2000:]
    run = only_run(cut_dir / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "answers_exhausted"
    (run / "summary.json").write_text(json.dumps({**summary, "status": "running"}))  # as if it had died there
    for name, text in (("good", WEAK), ("bad", CRASH)):
        for i in range(11, 41):
            (cut_dir / name / f"{i:03d}.md").write_text(text)
    resumed = run_cli("resume", run.name, "--out", str(cut_dir / "runs"), env=cli_env())
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    labels = {f"scripted:{tmp_path / 'whole' / n}": n for n in ("good", "bad")}
    labels.update({f"scripted:{cut_dir / n}": n for n in ("good", "bad")})
    assert [labels[m] for m in members_per_call(run)] == [labels[m] for m in members_per_call(whole)]
    final = json.loads((run / "summary.json").read_text())["models"]["members"]
    assert final[good]["calls"] == 40 - final[bad]["calls"] and final[good]["improvements"] >= 1


class Declaring(Backend):
    """A backend that declares everything differently from the defaults and notes every hook it is told."""

    name, uses_prompts, concurrent, credited = "declaring", False, False, True

    def __init__(self) -> None:
        super().__init__("declaring")
        self.told: list[tuple] = []

    def complete(self, request: Request) -> Completion:
        return Completion("answer", self.model)

    def prepare(self, request: Request) -> None:
        self.told.append(("prepare", request.call_index))

    def account(self, call: int, completion: Completion) -> None:
        self.told.append(("account", call))

    def credit(self, call: int, improved: bool) -> None:
        self.told.append(("credit", call, improved))

    def observe(self, key: tuple) -> None:
        self.told.append(("observe", key))

    def summary(self) -> dict | None:
        return {"told": len(self.told)}

    def header(self) -> str:
        return "declared"


def test_a_plain_backend_declares_no_op_hooks():
    plain = make_backend(f"scripted:{ANSWERS / 'cartpole'}", GenParams())
    assert (plain.uses_prompts, plain.concurrent, plain.credited) == (True, True, False)
    request = Request((), GenParams(), 1)
    plain.prepare(request), plain.account(1, Completion("", "m")), plain.credit(1, True), plain.observe((1,))
    assert plain.summary() is None and plain.header() == ""


def test_a_replayed_backend_forwards_what_its_backend_declares():
    inner = Declaring()
    replayed = ReplayBackend(inner, SimpleNamespace(answers_by_key={}))
    assert (replayed.name, replayed.label, replayed.uses_prompts, replayed.concurrent, replayed.credited) == \
        ("declaring", "declaring", False, False, True)
    replayed.prepare(Request((), GenParams(), 3))
    replayed.account(3, replayed.complete(Request((), GenParams(), 3)))
    replayed.credit(3, True)
    replayed.observe((1.0,))
    assert inner.told == [("prepare", 3), ("account", 3), ("credit", 3, True), ("observe", (1.0,))]
    assert replayed.summary() == {"told": 4} and replayed.header() == "declared"
