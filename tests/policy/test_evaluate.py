"""Lock-step evaluation on the host: action checks, success at any step, step counting, determinism; and the host
loop alone, with a session that runs the policy in this process (pipelined halves, faults, ending at success)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from promptpo.envs import load_spec
from promptpo.envspec import Episode
from promptpo.policy.evaluate import Evaluator
from promptpo.policy.pool import EnvPool
from promptpo.policy.feedback import digest_lines
from promptpo.isolation.base import Limits
from promptpo.isolation.process import ProcessSandbox
from promptpo.outcome import CandidateFault, Outcome


@pytest.fixture(scope="module")
def sandbox():
    with ProcessSandbox() as sb:
        yield sb


def evaluator(sandbox, env_id: str) -> tuple[Evaluator, object]:
    spec = load_spec(env_id)
    return Evaluator(spec, sandbox, Limits(act_timeout_s=5), EnvPool(spec, seed=0), salt="fixed"), spec


def evaluate(sandbox, env_id: str, code: str, episodes: int = 3):
    ev, spec = evaluator(sandbox, env_id)
    return ev.evaluate(textwrap.dedent(code), spec.episodes(0, episodes))


def test_cartpole_steps_and_returns_are_counted(sandbox):
    result = evaluate(sandbox, "gymnasium/CartPole-v1", "def act(obs):\n    return 1")
    assert result.ok
    assert all(e.terminated and e.completed for e in result.episodes)
    assert result.env_steps == sum(e.length for e in result.episodes)
    assert result.mean_return == pytest.approx(sum(e.episode_return for e in result.episodes) / 3)
    assert result.mean_return < 50  # always pushing right fails fast
    digest = result.episodes[0].digest
    assert digest.action_counts == {1: result.episodes[0].length}
    assert "pole_angle" in digest.fields


def test_same_code_and_seed_give_the_same_episodes(sandbox):
    code = "import numpy as np\ndef act(obs):\n    return int(np.random.rand() < 0.5)"
    first = evaluate(sandbox, "gymnasium/CartPole-v1", code, episodes=4)
    second = evaluate(sandbox, "gymnasium/CartPole-v1", code, episodes=4)
    assert [e.episode_return for e in first.episodes] == [e.episode_return for e in second.episodes]
    assert [e.seed for e in first.episodes] == [e.seed for e in second.episodes]


@pytest.mark.parametrize("code, words", [
    ("def act(obs):\n    return 7", "expected an int in [0, 1]"),
    ("def act(obs):\n    return 0.5", "expected an int"),
    ("def act(obs):\n    return float('nan')", "non-finite"),
])
def test_invalid_discrete_actions_are_rejected(sandbox, code, words):
    result = evaluate(sandbox, "gymnasium/CartPole-v1", code)
    assert result.outcome is Outcome.INVALID_ACTION
    assert words in result.fault.message
    assert result.fault.episode == 0 and result.fault.step == 0
    assert result.env_steps == 0 and result.mean_return is None


def test_out_of_bounds_continuous_actions_are_clipped_and_counted(sandbox):
    result = evaluate(sandbox, "gymnasium/Pendulum-v1", "import numpy as np\ndef act(obs):\n    return np.array([5.0])")
    assert result.ok
    digest = result.episodes[0].digest
    assert digest.clipped_steps == 200 and digest.action_max == [5.0]
    assert "theta" in digest.derived


@pytest.mark.parametrize("action,mean,std", [("1e308", 1e308, 0.0), ("1e200", 1e200, 0.0),
                                             ("1e308 * (-1) ** self.t", 0.0, 1e308)])
def test_huge_finite_actions_leave_the_digest_finite(sandbox, action, mean, std):
    """Actions as asked for (before clipping) are digested without overflow: no sum nor square of them goes to
    inf, and the episode's record can be written (JSON has no inf)."""
    from promptpo.engine.store import to_json

    code = f"""
        import numpy as np
        class Policy:
            def reset(self):
                self.t = 0
            def act(self, obs):
                self.t += 1
                return np.full(1, {action})
        """
    result = evaluate(sandbox, "gymnasium/Pendulum-v1", code, episodes=1)
    assert result.ok
    digest = result.episodes[0].digest
    assert digest.clipped_steps == 200
    assert digest.action_mean == pytest.approx([mean], rel=1e-9) and digest.action_std == pytest.approx([std], rel=1e-9)
    assert json.loads(to_json(digest))["action_max"] == [abs(float(action.split()[0]))]


def test_a_crash_mid_episode_keeps_the_steps_it_used(sandbox):
    code = """
        class Policy:
            def reset(self):
                self.t = 0
            def act(self, obs):
                self.t += 1
                if self.t == 6:
                    raise RuntimeError("step six")
                return 0
    """
    result = evaluate(sandbox, "gymnasium/CartPole-v1", code, episodes=2)
    assert result.outcome is Outcome.CRASHED and "step six" in result.fault.message
    assert result.env_steps == 10  # 5 lock-step steps of 2 episodes before the crash
    assert result.fault.episode == 0 and result.fault.step == 5
    assert not any(e.completed for e in result.episodes)


def test_metaworld_success_counts_at_any_step(sandbox):
    # Reach the goal, then fly away: success must still count, from the step it first happened.
    code = """
        import numpy as np
        class Policy:
            def reset(self):
                self.t = 0
            def act(self, obs):
                self.t += 1
                hand, goal = obs[0:3], obs[36:39]
                if self.t < 80:
                    return np.append(np.clip(10 * (goal - hand), -1, 1), 0.0)
                return np.array([0.0, -1.0, 1.0, 0.0])
    """
    result = evaluate(sandbox, "metaworld/reach", code, episodes=2)
    assert result.ok and result.success_rate == 1.0
    for episode in result.episodes:
        assert episode.length == 500 and episode.truncated
        assert 1 <= episode.success_step < 80
        assert episode.digest.derived["hand_to_goal"].end > 0.1  # it ended far from the goal
        assert "task" in episode.extras
        success = episode.digest.info["success"]  # the env's own terms, step by step
        assert success.flag and success.first_on == episode.success_step and success.lost_at > success.first_on
        assert f"success first at step {success.first_on}, lost again at step {success.lost_at}" in "\n".join(
            digest_lines(load_spec("metaworld/reach"), episode))
        assert not episode.digest.info["in_place_reward"].flag


def test_every_failed_episode_is_digested_and_vectors_record_no_extremes(sandbox, tmp_path):
    from promptpo.engine.store import to_json
    from promptpo.policy.feedback import notable_episodes

    result = evaluate(sandbox, "metaworld/reach", "import numpy as np\ndef act(obs):\n    return np.zeros(4)", 3)
    assert result.success_rate == 0.0
    assert len(notable_episodes(result)) == 3  # all three failed: each gets its fields shown
    recorded = json.loads(to_json(result.episodes[0].digest))
    assert set(recorded["fields"]["hand_pos"]) == {"start", "end"}  # no "min": null for a vector
    assert set(recorded["fields"]["gripper_open"]) >= {"min", "max", "min_step"}


def test_printed_output_keeps_its_start_and_its_end():
    from promptpo.policy.feedback import head_and_tail
    from promptpo.isolation.base import CappedOutput

    capped = CappedOutput(100, 10_000, lambda: None)
    for i in range(200):
        capped.feed(f"step {i:03d}\n".encode())
    text = capped.text()
    assert text.startswith("step 000") and text.rstrip().endswith("step 199")  # the end, where failures show
    assert "bytes in the middle not kept" in text and capped.total == 200 * 9
    assert len(text) <= 100  # the note about the cut fits within what is kept
    short = CappedOutput(100, 10_000, lambda: None)
    short.feed(b"all of it\n")
    assert short.text() == "all of it\n"
    cut = head_and_tail("a" * 1000 + "FAILED at step 67", 200)
    assert cut.startswith("a" * 100) and cut.endswith("FAILED at step 67") and "left out" in cut


def test_two_batches_in_flight_play_the_episodes_exactly_as_lock_step(sandbox):
    """Pipelined (the host steps one half while the worker computes the other) vs one batch at a time: a policy
    that draws from the shared RNG and keeps module-level state sees the same order of calls either way."""
    code = textwrap.dedent("""
        import numpy as np
        calls = [0]
        def act(obs):
            calls[0] += 1
            return int(np.random.rand() < 0.5 + 0.4 * np.tanh(10 * obs[2]) + 0.0001 * (calls[0] % 7))
    """)
    runs = {}
    for pipeline in (True, False):
        ev, spec = evaluator(sandbox, "gymnasium/CartPole-v1")
        ev.pipeline = pipeline
        runs[pipeline] = ev.evaluate(code, spec.episodes(0, 7))
    assert runs[True].ok and runs[True].env_steps == runs[False].env_steps
    assert [(e.length, e.episode_return) for e in runs[True].episodes] == \
        [(e.length, e.episode_return) for e in runs[False].episodes]
    assert len({e.length for e in runs[True].episodes}) > 1  # the halves finished at different steps


# -- the host loop alone: a session without a worker ------------------------------------------------------------

class HostSession:
    """Runs ``policy(obs) -> action`` in this process. Logs each episode position it is shown with that
    observation, in the order shown; ``fault``: (call, CandidateFault) to raise at that act call."""

    pipelined = False

    def __init__(self, policy, log: list, fault=None, *args):
        self.policy, self.log, self.fault, self.calls, self.closed = policy, log, fault, 0, False

    def load(self, code: str) -> None:
        self.log.append(("load", code))

    def reset(self, envs: list[int], seed: int) -> None:
        self.log.append(("reset", tuple(envs)))

    def act(self, envs: list[int], obs: dict) -> np.ndarray:
        self.calls += 1
        if self.fault and self.fault[0] == self.calls:
            raise self.fault[1]
        self.log.extend((i, tuple(row)) for i, row in zip(envs, obs["obs"]))
        return np.array([self.policy(row) for row in obs["obs"]])

    def close(self) -> None:
        self.closed = True
        self.log.append("closed")

    def output(self) -> tuple[str, int]:
        return "printed\n", 8


class PipelinedHostSession(HostSession):
    """Sends and receives like the real session: actions are worked out when a request is sent."""

    pipelined = True

    def __init__(self, *args):
        super().__init__(*args)
        self.pending: list[np.ndarray] = []

    def send_act(self, envs: list[int], obs: dict, batch: int, stream: bool = False) -> None:
        self.pending.append(self.act(envs, obs))

    def receive_act(self, envs: list[int], batch: int) -> np.ndarray:
        return self.pending.pop(0)


def leaning(obs) -> int:
    return int(obs[2] > 0)  # a poor balancer: its episodes end at different steps


def host_evaluator(session=HostSession, env_id: str = "gymnasium/CartPole-v1", policy=leaning, fault=None,
                   end_at_success: bool = False):
    spec = load_spec(env_id)
    log: list = []
    sessions: list = []

    def make(sandbox, limits, action):
        sessions.append(session(policy, log, fault))
        return sessions[-1]

    ev = Evaluator(spec, None, Limits(), EnvPool(spec, seed=0), session=make, salt="s", end_at_success=end_at_success)
    return ev, spec, log, sessions


def moved(indexes) -> list[Episode]:
    """Episodes whose index is not their position in the batch (as a cascade's second stage has)."""
    return [Episode(10 + i, 1000 + i) for i in indexes]


def test_pipelined_halves_show_the_worker_what_lock_step_shows():
    runs = {}
    for session in (HostSession, PipelinedHostSession):
        ev, spec, log, _ = host_evaluator(session)
        runs[session] = log, ev.evaluate("code", spec.episodes(0, 5))
    (plain_log, plain), (piped_log, piped) = runs[HostSession], runs[PipelinedHostSession]
    assert piped_log == plain_log  # the same observations, in the same order
    assert [(e.length, e.episode_return, e.terminated) for e in piped.episodes] == \
        [(e.length, e.episode_return, e.terminated) for e in plain.episodes]
    assert len({e.length for e in plain.episodes}) > 1
    assert plain.env_steps == piped.env_steps == sum(e.length for e in plain.episodes)


def test_on_step_sees_every_reset_and_step_and_the_keeper_every_step():
    from promptpo.policy.trajectory import Keeper

    ev, spec, _, _ = host_evaluator()
    calls: list[tuple[int, int]] = []
    keeper = Keeper()
    result = ev.evaluate("code", moved(range(3)), on_step=lambda i, env, step: calls.append((i, step)),
                         keeper=keeper)
    assert calls[:3] == [(0, 0), (1, 0), (2, 0)]
    for i, episode in enumerate(result.episodes):
        assert [step for j, step in calls if j == i] == list(range(episode.length + 1))
    assert [(t.episode, t.steps, len(t.observations)) for t in keeper.trajectories] == \
        [(e.index, e.length, e.length + 1) for e in result.episodes]


@pytest.mark.parametrize("env, where", [(1, (11, 2)), (None, (None, None)), (7, (None, None))])
def test_a_fault_names_the_episode_and_step_it_hit_when_it_can(env, where):
    crash = CandidateFault(Outcome.CRASHED, "boom", "Traceback", env=env)
    ev, _, log, _ = host_evaluator(fault=(3, crash))
    result = ev.evaluate("code", moved(range(3)))
    assert result.outcome is Outcome.CRASHED and result.fault.message == "boom"
    assert (result.fault.episode, result.fault.step) == where
    assert result.env_steps == 6 and log[-1] == "closed"  # two lock-step steps of three, then the session closed
    assert (result.output, result.output_bytes) == ("printed\n", 8)
    assert all(e.digest.fields for e in result.episodes)  # digests finished all the same


def test_an_invalid_action_names_the_episode_by_its_index():
    ev, _, _, _ = host_evaluator(policy=lambda obs: 7)
    result = ev.evaluate("code", moved(range(2)))
    assert result.outcome is Outcome.INVALID_ACTION
    assert "in episode 10 at step 0" in result.fault.message and result.fault.episode == 10


def test_a_host_error_is_not_a_candidate_fault_but_the_session_is_closed():
    ev, _, log, sessions = host_evaluator(fault=(2, RuntimeError("host broke")))
    with pytest.raises(RuntimeError, match="host broke"):
        ev.evaluate("code", moved(range(2)))
    assert sessions[0].closed and log[-1] == "closed"


@pytest.mark.parametrize("session", [HostSession, PipelinedHostSession])
def test_episodes_end_at_their_first_success_when_asked(session):
    pump = lambda obs: 2 if obs[1] >= 0 else 0  # noqa: E731 - push the way the car moves: it reaches the flag
    full, _, _, _ = host_evaluator(session, "gymnasium/MountainCar-v0", pump)
    cut, spec, _, _ = host_evaluator(session, "gymnasium/MountainCar-v0", pump, end_at_success=True)
    episodes = spec.episodes(0, 3)
    played, ended = full.evaluate("code", episodes), cut.evaluate("code", episodes)
    assert played.success_rate == ended.success_rate == 1.0
    for whole, early in zip(played.episodes, ended.episodes):
        assert whole.terminated and not whole.ended_at_success and whole.ending == "terminated"
        assert early.ended_at_success and not early.terminated and early.ending == "ended at success"
        assert early.length == early.success_step == whole.success_step == whole.length
