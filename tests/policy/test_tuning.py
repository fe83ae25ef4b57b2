"""Declared tunable constants, their substitution, which candidate is tuned, and the noise test."""

from __future__ import annotations

import numpy as np
import pytest

from promptpo.policy.evaluation import EpisodeResult, Evaluation
from promptpo.outcome import Outcome
from promptpo.policy.tuning import beats, choose_parent, declared_tunables, substitute

CODE = '''import numpy as np

GAIN = 0.5
LIMIT = -2.0
STEPS = 3
SHAPE = (4,)
TUNABLE = {"GAIN": (0.01, 10.0), "LIMIT": (-5.0, 0.0), "STEPS": (1, 9)}


class Policy:
    def act(self, obs, k=3):
        push = GAIN * (obs[36:39] - obs[0:3]) + 3 * obs[1]
        if obs[3] > 0.25:
            push = push * 1.5
        return np.append(np.clip(push, LIMIT, 1.0), 0.0)
'''


def test_only_the_declared_constants_are_tunable_within_their_ranges():
    found = {c.name: c for c in declared_tunables(CODE)[0]}
    assert set(found) == {"GAIN", "LIMIT", "STEPS"}  # not 3, 0.25, 1.5, 1.0 or 0.0: bare literals stay
    assert found["GAIN"].log and not found["LIMIT"].log and found["STEPS"].integer
    assert (found["LIMIT"].line, found["LIMIT"].text, found["LIMIT"].value) == (4, "-2.0", -2.0)
    assert found["GAIN"].at(0) == pytest.approx(0.01) and found["GAIN"].at(1) == pytest.approx(10.0)
    assert found["GAIN"].at(0.5) == pytest.approx(np.sqrt(0.1))  # log scale: the geometric middle
    assert found["LIMIT"].at(0.5) == pytest.approx(-2.5) and found["STEPS"].at(0.3) == 3.0
    assert found["GAIN"].at(found["GAIN"].position()) == pytest.approx(0.5)  # the search starts at the program


def test_substitute_replaces_exactly_the_declared_values():
    constants = declared_tunables(CODE)[0]
    same = substitute(CODE, constants, [c.value for c in constants])
    assert same.replace("(-2.0)", "-2.0") == CODE
    changed = substitute(CODE, constants, [9.0, -3.0, 7.0])
    assert "GAIN = 9.0" in changed and "LIMIT = (-3.0)" in changed and "STEPS = 7\n" in changed
    assert changed.count("3 * obs[1]") == 1 and "obs[3] > 0.25" in changed and "SHAPE = (4,)" in changed
    compile(changed, "tuned.py", "exec")


def test_a_bad_declaration_is_reported_not_guessed():
    assert declared_tunables("X = 1.0\n") == ([], [])  # nothing declared: nothing tuned
    constants, problems = declared_tunables(
        "A = 1.0\nB = 2.0\ndef f():\n    C = 3.0\nTUNABLE = {'A': (2.0, 1.0), 'B': (0, 5), 'C': (0, 9), 'D': 1}\n")
    assert [c.name for c in constants] == ["B"]
    assert len(problems) == 3 and any("'C'" in p and "module-level" in p for p in problems)
    assert declared_tunables("TUNABLE = dict(A=(0, 1))\n")[1]


class Made:
    """A stand-in for a recorded candidate: only what choose_parent reads."""

    def __init__(self, id_, round_, score, kind="llm", complete=True):
        self.id, self.round, self.kind, self.scored, self.complete = id_, round_, kind, True, complete
        self.score = score

    def rank_key(self):
        return (self.score,)


def test_tuning_goes_to_the_best_and_then_to_the_newest_rounds_best():
    history = [Made("r00c0", 0, 5.0), Made("r00c1", 0, 9.0, "tuned"), Made("r01c0", 1, 3.0), Made("r01c1", 1, 4.0)]
    done: set[str] = {"r00c0"}  # r00c1 came from tuning it
    assert choose_parent(history, 1, done).id == "r00c1"  # a tuned result is tuned further while it is the best
    done.add("r00c1")
    assert choose_parent(history, 1, done).id == "r01c1"  # then the round's best gets its chance
    done.add("r01c1")
    assert choose_parent(history, 1, done) is None


def test_a_phase_with_nothing_to_tune_says_why():
    """Hopper: the best was a tuned result and every later program was stopped by the cascade, so no phase ran after
    round 1, and neither the log nor the prompts said so while they promised tuning would run."""
    from promptpo.policy.tuning import nothing_to_tune

    history = [Made("r00c0", 0, 33.0), Made("r00c1", 0, 987.0, "tuned"), Made("r01c0", 1, 164.0, complete=False)]
    done = {"r00c0", "r00c1"}
    assert choose_parent(history, 1, done) is None
    why = nothing_to_tune(history, 1, done)
    assert "r00c1, was tuned before" in why and "stopped by the cascade" in why


def test_a_candidate_the_cascade_stopped_is_not_tuned_while_a_complete_one_exists():
    """Its score is its first episodes' only (Ant's r01c0 was tuned over the best for this); but a run whose every
    program was stopped (a mis-tuned controller failing its first episodes) tunes its best stopped one."""
    history = [Made("r00c0", 0, 5.0), Made("r01c0", 1, 50.0, complete=False), Made("r01c1", 1, 4.0)]
    done: set[str] = set()
    assert choose_parent(history, 1, done).id == "r00c0"
    done.add("r00c0")
    assert choose_parent(history, 1, done).id == "r01c1"
    done.add("r01c1")
    assert choose_parent(history, 1, done) is None  # r01c0 stays untuned: complete programs exist
    only_stopped = [Made("r00c0", 0, 5.0, complete=False), Made("r00c1", 0, 7.0, complete=False)]
    assert choose_parent(only_stopped, 0, set()).id == "r00c1"


def evaluation(returns, successes=None) -> Evaluation:
    eps = [EpisodeResult(i, i, {}, r, 10, None if successes is None else successes[i], None, True, False, True)
           for i, r in enumerate(returns)]
    return Evaluation(Outcome.OK, eps, 50, 0.1)


def test_beats_needs_more_than_noise():
    parent = evaluation([100, 110, 90, 105, 95])
    assert beats(evaluation([200, 210, 190, 205, 195]), parent)
    assert not beats(evaluation([104, 114, 94, 109, 99]), parent)  # within the noise
    assert beats(evaluation([1, 1, 1, 1, 1], [True] * 5), evaluation([1, 1, 1, 1, 1], [False] * 5))
    assert not beats(evaluation([1] * 5, [True, False, False, False, False]), evaluation([1] * 5, [False] * 5))


def test_a_tunable_bound_twice_is_not_tuned_and_the_declaration_is_not_state():
    from promptpo.extract import extract

    code = "K = 1.0\nJ = 2.0\nTUNABLE = {'K': (0.0, 2.0), 'J': (0.0, 5.0)}\nK = 0.5\n\n\ndef act(obs):\n    return int(obs[0] * K > J)\n"
    constants, problems = declared_tunables(code)
    assert [c.name for c in constants] == ["J"] and any("K is assigned more than once" in p for p in problems)
    global_inside = "G = 1.0\nTUNABLE = {'G': (0.0, 2.0)}\n\n\ndef act(obs):\n    global G\n    G += 1\n    return 0\n"
    assert declared_tunables(global_inside)[0] == []
    findings = extract(f"```python\n{code}```").findings
    assert not [f for f in findings if f.kind == "global_state"]  # TUNABLE is promptpo's, not the policy's state


TUNED = ('```python\nTUNABLE = {"K": (0.0, 2.0)}\nK = 0.0\n\n\ndef act(obs):\n    x, v, a, w = obs\n'
         '    return int(a + K * w > 0)\n```')


def tuned_run(tmp_path, rounds: int, **options):
    import json

    import promptpo

    answers = tmp_path / "answers.jsonl"
    answers.write_text((json.dumps({"content": TUNED}) + "\n") * rounds)
    return promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "runs", rounds=rounds,
                             candidates=1, episodes=2, cascade=0, target=10_000, tune_constants=True, tune_evals=8,
                             add_to_library=False, feedback_fn=False, **options)


def test_every_tuning_phase_is_told_to_the_model_and_what_tuning_will_still_do(tmp_path):
    import json

    result = tuned_run(tmp_path, 3, max_env_steps=40_000, tune_share=0.5)
    prompts = [p.read_text() for p in sorted((result.run_dir / "llm").glob("*.prompt.md"))]
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    phases = [e for e in events if e["event"] == "tuning"]
    assert len(phases) >= 2
    second = prompts[1]  # after round 0's phase, whatever it found
    assert "# Constant tuning so far" in second and "Tuning after round 1:" in second
    assert f"{phases[0]['evaluations']} evaluation" in second
    assert "Constant tuning will run after this round, and after later ones while its share lasts" in second
    assert "pay for at least" in second
    last = prompts[-1]
    assert "Constant tuning will run after this round, the last" in last or "will not run again" in last
    assert "at most 50% of --max-env-steps in all" in second


def test_tunings_share_is_spread_over_the_phases_left(tmp_path):
    import json

    result = tuned_run(tmp_path, 4, max_env_steps=40_000, tune_share=0.5)
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    first = next(e for e in events if e["event"] == "tuning")
    generation = 6 * 2 * 500  # one CMA-ES generation of CartPole's TUNED program: 6 samples of 2 full episodes
    assert first["env_steps"] <= max(0.5 * 40_000 / 4, generation) + 2 * 500  # a quarter, or one generation
    assert first["evaluations"] >= 6  # a phase finishes at least one generation (Hopper's told the search nothing)
    assert sum(e["env_steps"] for e in events if e["event"] == "tuning") <= 0.5 * 40_000 + 2 * 500


def test_the_log_says_what_each_phase_did(tmp_path):
    from conftest import only_run, run_cli

    answers = tmp_path / "answers"
    answers.mkdir()
    for i in (1, 2):
        (answers / f"00{i}.md").write_text(TUNED)
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "2",
                   "--candidates", "1", "--episodes", "2", "--tune-constants", "--tune-evals", "6", "--tune-share", "0.9",
                   "--target", "10000",
                   "--no-library", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr
    assert "Tuning after round 1: 1 constant of r00c0" in proc.stderr and only_run(tmp_path / "runs")


def test_tuning_asks_the_run_only_through_its_context(tmp_path, monkeypatch):
    import json

    from conftest import OnlyContext
    from promptpo.policy import tuning

    tune, status = tuning.tune, tuning.status
    monkeypatch.setattr(tuning, "tune", lambda run, *rest: tune(OnlyContext(run), *rest))
    monkeypatch.setattr(tuning, "status", lambda run, *rest: status(OnlyContext(run), *rest))
    result = tuned_run(tmp_path, 2, max_env_steps=20_000, tune_share=0.5)
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    phases = [e for e in events if e["event"] == "tuning"]
    assert phases and phases[0]["evaluations"] > 0 and result.summary["tuning_evaluations"] >= phases[0]["evaluations"]
    said = (result.run_dir / "llm" / "0002.prompt.md").read_text()  # what tuning will still do (tuning.status)
    assert "Constant tuning will run" in said or "Constant tuning will not run again" in said


@pytest.mark.parametrize("tune_evals, left, worst", [(30, 19_000, 3_000), (30, 23_197, 3_000), (30, 30_000, 1_000),
                                                     (10, 9_000, 1_000), (30, 500_000, 3_000), (30, 17_000, 3_000)])
def test_the_tuning_promise_names_the_most_constants_a_phase_can_pay_for(tune_evals, left, worst):
    """Real models declared 6–8 TUNABLE constants while every prompt said tuning would run, and no phase could pay
    for a generation over that many: the status says how many it can pay for, exactly where the phase's check
    (a generation of CMA-ES samples at their worst case within what is left) draws the line."""
    import re

    from promptpo.policy.tuning_share import MIN_DIMENSIONS, affordable_text, generation_size

    said = affordable_text(tune_evals, left, worst)
    fits = [d for d in range(MIN_DIMENSIONS, 65) if generation_size(tune_evals, d) * worst <= left]
    if not fits or fits[-1] == 64:
        assert said == ""
        return
    most = int(re.search(r"at most (\d+) of them", said).group(1))
    assert most == fits[-1] and generation_size(tune_evals, most + 1) * worst > left
    assert f"{most + 1} or more need a generation of {generation_size(tune_evals, most + 1)} evaluations" in said


STEADY = ('```python\nTUNABLE = {"K": (0.0, 2.0)}\nK = 1.0\n\n\ndef act(obs):\n    x, v, a, w = obs\n'
          '    return int(a + w + 0.1 * v + 0.05 * x + 0.01 * K * w > 0)\n```')
"""Balances CartPole to its 500-step limit for every K in range: every evaluation costs exactly its worst case."""


def test_the_phases_the_prompts_promise_are_the_phases_that_run(tmp_path):
    """Real models were told "after each of the 8 after it (about 30,000 env steps each, while its share lasts)"
    when the share paid for one phase, then "its share of env steps is spent" with 26,570 env steps left. With every
    evaluation at its worst case, the phases the first prompt says the share pays for are exactly the phases that
    run, and once a prompt says tuning will not run again, none does."""
    import json
    import re

    import promptpo

    answers = tmp_path / "answers.jsonl"
    answers.write_text((json.dumps({"content": STEADY}) + "\n") * 5)
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "runs", rounds=5,
                               candidates=1, episodes=2, cascade=0, target=10_000, tune_constants=True, tune_evals=6,
                               max_env_steps=40_000, tune_share=0.5, add_to_library=False, feedback_fn=False)
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    ran = [e for e in events if e["event"] == "tuning" and e["evaluations"]]
    assert all(e["env_steps"] == e["evaluations"] * 1_000 for e in ran)  # the worst case: 2 episodes of 500
    prompts = [p.read_text() for p in sorted((result.run_dir / "llm").glob("*.prompt.md"))]
    promised = int(re.search(r"pay for at least (\d+) phases? over 2 constants", prompts[0]).group(1))
    assert promised == len(ran) == 3  # 20,000 env steps of share: 6,000, 6,000, 6,000, then 2,000 buy no generation
    assert "generation over 2–10 constants is 6 evaluations (up to 6,000 env steps)" in prompts[0]  # --tune-evals 6
    assert "in at most 6 evaluations (--tune-evals)" in prompts[0] and all(e["evaluations"] <= 6 for e in ran)
    told = [i for i, text in enumerate(prompts) if "Constant tuning will not run again" in text]
    assert told and "cannot pay for one CMA-ES generation" in prompts[told[0]] and "2,000 env steps" in prompts[told[0]]
    phases = [e for e in events if e["event"] == "tuning"]  # one after each round, in order
    assert not any(e["evaluations"] for e in phases[told[0]:])
