"""The host's simulators (promptpo.policy.pool): made only when more are needed, reused, all closed."""

from __future__ import annotations

from types import SimpleNamespace

from promptpo.policy.pool import EnvPool


class Env:
    def __init__(self, seed: int):
        self.seed, self.closed = seed, False

    def close(self) -> None:
        self.closed = True


def test_simulators_are_made_once_and_reused():
    made: list[Env] = []
    spec = SimpleNamespace(make_env=lambda seed: made.append(Env(seed)) or made[-1])
    pool = EnvPool(spec, seed=7)
    first = pool.take(2)
    assert pool.take(1) == first[:1] and len(made) == 2  # fewer wanted: the same simulators, none made
    assert pool.take(3)[:2] == first and len(made) == 3  # one more wanted: one more made
    assert {env.seed for env in made} == {7}


def test_close_closes_every_simulator_and_a_later_take_makes_fresh_ones():
    made: list[Env] = []
    pool = EnvPool(SimpleNamespace(make_env=lambda seed: made.append(Env(seed)) or made[-1]), seed=0)
    pool.take(2)
    pool.close()
    assert all(env.closed for env in made) and pool.envs == []
    fresh = pool.take(1)
    assert len(made) == 3 and not fresh[0].closed
