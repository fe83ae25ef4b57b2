"""Declared tunable constants, their substitution, which candidate is tuned, and the noise test."""

from __future__ import annotations

import numpy as np
import pytest

from promptpo.evaluate import EpisodeResult, Evaluation
from promptpo.outcome import Outcome
from promptpo.tuning import beats, choose_parent, declared_tunables, substitute

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

    def __init__(self, id_, round_, score, kind="llm"):
        self.id, self.round, self.kind, self.scored, self.complete = id_, round_, kind, True, True
        self.score = score

    def rank_key(self):
        return (self.score,)


def test_tuning_goes_to_the_best_and_then_to_the_newest_rounds_best():
    history = [Made("r00c0", 0, 5.0), Made("r00c1", 0, 9.0, "tuned"), Made("r01c0", 1, 3.0), Made("r01c1", 1, 4.0)]
    done: set[str] = set()
    assert choose_parent(history, 1, done).id == "r00c0"  # the run's best ranks higher (the tuned one is not redone)
    done.add("r00c0")
    assert choose_parent(history, 1, done).id == "r01c1"  # then the round's best gets its chance
    done.add("r01c1")
    assert choose_parent(history, 1, done) is None


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
