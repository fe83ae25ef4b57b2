"""Finding and substituting tunable constants, and the noise test for keeping a tuned program."""

from __future__ import annotations

import numpy as np
import pytest

from promptpo.evaluate import EpisodeResult, Evaluation
from promptpo.outcome import Outcome
from promptpo.tuning import beats, substitute, tunable_constants, values_for

CODE = '''import numpy as np

GAIN = 0.5
LIMIT = -2.0


class Policy:
    def __init__(self, horizon=100):
        self.buffer = np.zeros(4)
        self.steps = 0

    def act(self, obs, k=3):
        hand, goal = obs[0:3], obs[36:39]
        for i in range(10):
            pass
        push = GAIN * (goal - hand) + 3 * obs[1] + np.mean(obs[2:5], axis=0)
        if obs[3] > 0.25:
            push = push * 1.5
        return np.append(np.clip(push, -1.0, 1.0), 0.0)
'''


def test_gains_thresholds_and_offsets_but_not_indices_shapes_or_bounds():
    found = {(c.line, c.text) for c in tunable_constants(CODE)}
    assert found == {(3, "0.5"), (4, "-2.0"), (16, "3"), (17, "0.25"), (18, "1.5"), (19, "0.0")}


def test_substitute_replaces_exactly_those_literals():
    constants = tunable_constants(CODE)
    values = values_for(constants, np.zeros(len(constants)))
    unchanged = substitute(CODE, constants, values)  # z = 0: the same program (ints become floats)
    assert unchanged.replace("(-2.0)", "-2.0").replace("3.0 * obs", "3 * obs") == CODE
    changed = substitute(CODE, constants, [9.0, -3.0, 4.0, 0.1, 2.0, 0.3])
    assert "GAIN = 9.0" in changed and "LIMIT = (-3.0)" in changed and "+ 4.0 * obs[1]" in changed
    assert "obs[3] > 0.1" in changed and "np.clip(push, -1.0, 1.0), 0.3)" in changed and "range(10)" in changed
    compile(changed, "tuned.py", "exec")


def test_values_move_multiplicatively_and_zeros_additively():
    constants = tunable_constants("x = 2.0 * y\nz = 0.0\n")
    assert values_for(constants, np.array([np.log(3.0), 0.7])) == pytest.approx([6.0, 0.7])


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
