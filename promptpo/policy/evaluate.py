"""Running a candidate: N episodes in lock-step on the host, actions from the sandboxed worker.

The simulator, reward and success flag live only here, in the trusted host process. The worker
sees observations and answers with actions, which are checked (finite, right shape, in range)
before they touch the simulator.
"""

from __future__ import annotations

import hashlib
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
from promptpo.policy.evaluation import EpisodeResult, Evaluation, Fault
from promptpo.policy.lanes import spare_core
from promptpo.policy.pool import EnvPool
from promptpo.policy.trajectory import Keeper


def worker_seed(salt: str, seed: int) -> int:
    """The seed the worker's RNGs get for an episode batch: derived from the episode seed and a secret
    of the run, so a policy cannot read back which episodes it plays (a run's or a verification's)."""
    digest = hashlib.blake2b(f"{salt}:{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


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
        """Keep two lock-step batches in flight (see evaluate); off only to compare against."""

    def evaluate(self, code: str, episodes: list[Episode], limits: Limits | None = None,
                 on_step: Callable[[int, Any, int], None] | None = None, keeper: Keeper | None = None) -> Evaluation:
        """``on_step(episode, env, step)`` is called after each reset (step 0) and step (e.g. to render);
        ``keeper``: keeps the episodes' steps for a feedback function (promptpo.policy.trajectory)."""
        started = time.monotonic()
        on_step = on_step or (lambda episode, env, step: None)
        envs = self.pool.take(len(episodes))
        results = [EpisodeResult(e.index, e.seed, dict(e.extras)) for e in episodes]
        recorders = [Recorder(self.spec) for _ in episodes]
        kept = keeper.batch([e.index for e in episodes]) if keeper is not None else None
        steps, fault, output = 0, None, ("", 0)
        session = None
        try:
            session = self.session(self.sandbox, limits or self.limits, self.spec.action)
            session.load(code)
            obs = []
            for i, (env, episode, rec) in enumerate(zip(envs, episodes, recorders)):
                o, _ = self.spec.reset(env, episode)
                on_step(i, env, 0)
                rec.observe(o, 0)
                obs.append(self.spec.encode_obs(o))  # as the wire carries it (and a feedback function reads it)
                if keeper is not None:
                    keeper.start(kept[i], obs[i])
            active = list(range(len(episodes)))
            session.reset(active, worker_seed(self.salt, episodes[0].seed))

            def advance(group: list[int], actions: np.ndarray) -> list[int]:
                """Step each episode of ``group`` with its action; the ones still running."""
                nonlocal steps
                for action, i in zip(actions, group):
                    result, rec = results[i], recorders[i]
                    value, clipped = self._check_action(action, i, result.index, result.length)
                    rec.act(action, clipped)  # what the policy asked for, before clipping
                    o, reward, terminated, truncated, info = envs[i].step(value)
                    steps += 1
                    result.length += 1
                    on_step(i, envs[i], result.length)
                    result.episode_return += float(reward)
                    rec.reward(float(reward), result.length)
                    rec.observe(o, result.length)
                    rec.info(info, result.length)
                    obs[i] = self.spec.encode_obs(o)
                    if keeper is not None:
                        keeper.step(kept[i], value, float(reward), obs[i], info)
                    if self.spec.is_success is not None:
                        if self.spec.is_success(info, float(reward), bool(terminated)) and result.success_step is None:
                            result.success_step = result.length
                        result.success = result.success_step is not None
                        if self.end_at_success and result.success:
                            result.completed = result.ended_at_success = True
                            continue
                    if terminated or truncated or result.length >= self.spec.horizon:
                        result.terminated, result.truncated = bool(terminated), not terminated
                        result.completed = True
                return [i for i in group if not results[i].completed]

            def batch_of(group: list[int]) -> dict[str, np.ndarray]:
                return {name: np.stack([obs[i][name] for i in group]) for name in obs[group[0]]}

            if self.pipeline and len(active) > 1 and hasattr(session, "send_act"):
                # Two halves in flight: the host steps one half's simulators while the worker computes the other
                # half's actions. The worker sees every episode's observations in lock-step order (first half,
                # second half, step after step), so honest code plays exactly as unpipelined; a half's next
                # request goes out only after the other half's reply came back, so no reply can wait to see
                # observations lock-step would not yet have shown. Each half gets the whole batch's act allowance.
                # (A fault in the second half leaves the first half one step further on than lock-step would.)
                # While a core is free for it the worker polls for the next request rather than sleeps (stream).
                half = (len(active) + 1) // 2
                a, b = active[:half], active[half:]
                for group in (a, b):
                    session.send_act(group, batch_of(group), len(active), stream=spare_core())
                while a or b:
                    batch = len(a) + len(b)
                    if a:
                        a = advance(a, session.receive_act(a, batch))
                    b_actions = session.receive_act(b, batch) if b else None
                    if a:
                        session.send_act(a, batch_of(a), batch, stream=spare_core())
                    if b:
                        b = advance(b, b_actions)
                        if b:
                            session.send_act(b, batch_of(b), batch, stream=spare_core())
            else:
                while active:
                    active = advance(active, session.act(active, batch_of(active)))
        except CandidateFault as err:
            known = err.env is not None and 0 <= err.env < len(results)  # a position in this batch
            episode = results[err.env].index if known else None
            step = results[err.env].length if known else None
            fault = Fault(err.outcome, err.message, err.traceback, episode, step)
        finally:
            if session is not None:
                session.close()
                output = session.output()
        for result, rec in zip(results, recorders):
            result.digest = rec.finish()
        return Evaluation(outcome=fault.outcome if fault else Outcome.OK, episodes=results, env_steps=steps,
                          wall_time_s=time.monotonic() - started, fault=fault, output=output[0],
                          output_bytes=output[1])

    def _check_action(self, action: np.ndarray, position: int, episode: int, step: int) -> tuple[Any, bool]:
        try:
            return self.spec.action.check(action)
        except ValueError as err:
            raise CandidateFault(Outcome.INVALID_ACTION, f"{err} in episode {episode} at step {step}",
                                 env=position) from None
