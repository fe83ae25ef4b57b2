"""Running a candidate: N episodes in lock-step on the host, actions from the sandboxed worker.

The simulator, reward and success flag live only here, in the trusted host process. The worker
sees observations and answers with actions, which are checked (finite, right shape, in range)
before they touch the simulator.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from promptpo.envspec import EnvSpec, Episode
from promptpo.isolation.base import Limits, Sandbox
from promptpo.isolation.session import PolicySession
from promptpo.outcome import CandidateFault, Outcome
from promptpo.policy.digest import Recorder
from promptpo.seeds import worker_seed
from promptpo.policy.evaluation import EpisodeResult, Evaluation, Fault
from promptpo.policy.lanes import spare_core
from promptpo.policy.pool import EnvPool
from promptpo.policy.trajectory import Keeper


class Evaluator:
    def __init__(self, spec: EnvSpec, sandbox: Sandbox, limits: Limits, pool: EnvPool,
                 session: Callable[..., PolicySession] = PolicySession, salt: str | None = None,
                 end_at_success: bool = False):
        self.spec, self.sandbox, self.limits, self.pool = spec, sandbox, limits, pool
        self.end_at_success = end_at_success and spec.has_success
        """End each episode at its first success (promptpo.envspec.ends_at_success says when a run may)."""
        self.salt = salt if salt is not None else secrets.token_hex(8)
        """The secret worker seeds are derived with (recorded by a run, so a re-run draws the same)."""
        self.session = session
        """Makes the session that runs the code; benchmarks swap in an in-process one to measure IPC cost."""
        self.pipeline = True
        """Keep two lock-step batches in flight (see _play_pipelined); off only to compare against."""

    def evaluate(self, code: str, episodes: list[Episode], limits: Limits | None = None,
                 on_step: Callable[[int, Any, int], None] | None = None, keeper: Keeper | None = None) -> Evaluation:
        """``on_step(episode, env, step)`` is called after each reset (step 0) and step (e.g. to render);
        ``keeper``: keeps the episodes' steps for a feedback function (promptpo.policy.trajectory)."""
        started = time.monotonic()
        batch = LockStep(self.spec, self.pool.take(len(episodes)), episodes, self.end_at_success, on_step, keeper)
        fault, output, session = None, ("", 0), None
        try:
            session = self.session(self.sandbox, limits or self.limits, self.spec.action)
            session.load(code)
            active = batch.start()
            session.reset(active, worker_seed(self.salt, episodes[0].seed))
            self._play(session, batch, active)
        except CandidateFault as err:
            fault = batch.fault(err)
        finally:
            if session is not None:
                session.close()
                output = session.output()
        return batch.evaluation(fault, output, started)

    def _play(self, session: PolicySession, batch: LockStep, active: list[int]) -> None:
        """Actions from the worker, steps on the host, until every episode has ended."""
        if self.pipeline and len(active) > 1 and session.pipelined:
            self._play_pipelined(session, batch, active)
            return
        while active:
            active = batch.advance(active, session.act(active, batch.observations(active)))

    @staticmethod
    def _play_pipelined(session: PolicySession, batch: LockStep, active: list[int]) -> None:
        """Two halves in flight: the host steps one half's simulators while the worker computes the other half's
        actions. The worker sees every episode's observations in lock-step order (first half, second half, step
        after step), so honest code plays exactly as unpipelined; a half's next request goes out only after the
        other half's reply came back, so no reply can wait to see observations lock-step would not yet have shown.
        Each half gets the whole batch's act allowance. (A fault in the second half leaves the first half one step
        further on than lock-step would.) While a core is free for it the worker polls for the next request rather
        than sleeps (stream)."""
        half = (len(active) + 1) // 2
        a, b = active[:half], active[half:]
        for group in (a, b):
            session.send_act(group, batch.observations(group), len(active), stream=spare_core())
        while a or b:
            size = len(a) + len(b)
            if a:
                a = batch.advance(a, session.receive_act(a, size))
            b_actions = session.receive_act(b, size) if b else None
            if a:
                session.send_act(a, batch.observations(a), size, stream=spare_core())
            if b:
                b = batch.advance(b, b_actions)
                if b:
                    session.send_act(b, batch.observations(b), size, stream=spare_core())


class LockStep:
    """One evaluation's episodes, stepped together on the host: their simulators, results, recorders (the digests
    being made) and latest observations, as the wire carries them. Positions (0..n-1) name the episodes."""

    def __init__(self, spec: EnvSpec, envs: list[Any], episodes: list[Episode], end_at_success: bool,
                 on_step: Callable[[int, Any, int], None] | None = None, keeper: Keeper | None = None):
        self.spec, self.envs, self.episodes, self.end_at_success = spec, envs, episodes, end_at_success
        self.on_step = on_step or (lambda episode, env, step: None)
        self.results = [EpisodeResult(e.index, e.seed, dict(e.extras)) for e in episodes]
        self.recorders = [Recorder(spec) for _ in episodes]
        self.keeper = keeper
        self.kept = keeper.batch([e.index for e in episodes]) if keeper is not None else None
        self.obs: list[dict[str, np.ndarray]] = []
        self.steps = 0

    def start(self) -> list[int]:
        """Reset every simulator to its episode; the positions, all running."""
        for i, (env, episode, rec) in enumerate(zip(self.envs, self.episodes, self.recorders)):
            o, _ = self.spec.reset(env, episode)
            self.on_step(i, env, 0)
            rec.observe(o, 0)
            self.obs.append(self.spec.encode_obs(o))  # as the wire carries it (and a feedback function reads it)
            if self.keeper is not None:
                self.keeper.start(self.kept[i], self.obs[i])
        return list(range(len(self.episodes)))

    def observations(self, group: list[int]) -> dict[str, np.ndarray]:
        """The latest observations of ``group``, stacked: one request's batch."""
        return {name: np.stack([self.obs[i][name] for i in group]) for name in self.obs[group[0]]}

    def advance(self, group: list[int], actions: np.ndarray) -> list[int]:
        """Step each episode of ``group`` with its action; the ones still running."""
        for action, i in zip(actions, group):
            self._step(i, action)
        return [i for i in group if not self.results[i].completed]

    def _step(self, i: int, action: np.ndarray) -> None:
        result, rec, env = self.results[i], self.recorders[i], self.envs[i]
        value, clipped = self._check(action, i)
        rec.act(action, clipped)  # what the policy asked for, before clipping
        o, reward, terminated, truncated, info = env.step(value)
        reward = float(reward)
        self.steps += 1
        result.length += 1
        self.on_step(i, env, result.length)
        result.episode_return += reward
        rec.reward(reward, result.length)
        rec.observe(o, result.length)
        rec.info(info, result.length)
        self.obs[i] = self.spec.encode_obs(o)
        if self.keeper is not None:
            self.keeper.step(self.kept[i], value, reward, self.obs[i], info)
        self._judge(result, reward, terminated, truncated, info)

    def _check(self, action: np.ndarray, i: int) -> tuple[Any, bool]:
        """The action as the simulator takes it, and whether it was clipped; an invalid one faults the candidate."""
        try:
            return self.spec.action.check(action)
        except ValueError as err:
            result = self.results[i]
            raise CandidateFault(Outcome.INVALID_ACTION, f"{err} in episode {result.index} at step {result.length}",
                                 env=i) from None

    def _judge(self, result: EpisodeResult, reward: float, terminated: Any, truncated: Any, info: Any) -> None:
        """Success from the step it first happens (it counts at any step), and whether the episode has ended."""
        if self.spec.is_success is not None:
            if self.spec.is_success(info, reward, bool(terminated)) and result.success_step is None:
                result.success_step = result.length
            result.success = result.success_step is not None
            if self.end_at_success and result.success:
                result.completed = result.ended_at_success = True
                return
        if terminated or truncated or result.length >= self.spec.horizon:
            result.terminated, result.truncated = bool(terminated), not terminated
            result.completed = True

    def fault(self, err: CandidateFault) -> Fault:
        """The fault as recorded: the episode and step it hit, when it names a position of this batch."""
        known = err.env is not None and 0 <= err.env < len(self.results)
        episode = self.results[err.env].index if known else None
        step = self.results[err.env].length if known else None
        return Fault(err.outcome, err.message, err.traceback, episode, step)

    def evaluation(self, fault: Fault | None, output: tuple[str, int], started: float) -> Evaluation:
        """What the episodes came to, their digests finished; ``started``: when the evaluation began (monotonic)."""
        for result, rec in zip(self.results, self.recorders):
            result.digest = rec.finish()
        return Evaluation(outcome=fault.outcome if fault else Outcome.OK, episodes=self.results, env_steps=self.steps,
                          wall_time_s=time.monotonic() - started, fault=fault, output=output[0],
                          output_bytes=output[1])
