"""PPO baselines with Stable-Baselines3, evaluated on the same protocol as promptpo.

Each seed is its own run folder (run.json, events.jsonl, curve.jsonl, model.zip, summary.json),
so ``runs``, ``show`` and ``compare`` treat it like any other run. The learning curve is
evaluated every ``steps / eval_points`` training steps on the episodes promptpo would use for the
same seed (Meta-World: success at any step over the 50 goal variations; others: mean return over
``eval_episodes`` seeded episodes), deterministically, with observation normalization frozen.
Evaluation steps are not counted as training steps.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from promptpo.baselines.hyperparams import Hyperparams, for_env, ppo_kwargs
from promptpo.envs import load_spec
from promptpo.envspec import EnvSpec, Episode
from promptpo.stats import CurvePoint
from promptpo.store import RunStore, now_iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PPOConfig:
    env: str
    steps: int
    """Training env steps per seed (all parallel envs together)."""
    eval_points: int = 20
    """Evaluations along training, evenly spaced; the first after steps / eval_points."""
    eval_episodes: int | None = None
    """Episodes per evaluation; default 50 for Meta-World (every goal variation), 10 otherwise."""
    out: Path = Path("runs")

    def episodes_per_eval(self) -> int:
        return self.eval_episodes or (50 if self.env.startswith("metaworld/") else 10)


def training_env(spec: EnvSpec, seed: int) -> Any:
    import gymnasium as gym

    env = spec.make_env(seed)
    if spec.family == "metaworld":  # training samples a goal variation at every reset
        env.get_wrapper_attr("toggle_sample_tasks_on_reset")(True)
    if isinstance(env.observation_space, gym.spaces.Dict):  # e.g. MiniGrid: one flat vector for MlpPolicy
        env = gym.wrappers.FlattenObservation(env)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


class Evaluator:
    """Deterministic evaluation of the current policy on a fixed list of episodes, in lock-step."""

    def __init__(self, spec: EnvSpec, episodes: list[Episode], seed: int):
        self.spec, self.episodes = spec, episodes
        self.envs = [training_env(spec, seed) for _ in range(min(len(episodes), 10))]
        for env in self.envs:
            if spec.family == "metaworld":
                env.get_wrapper_attr("toggle_sample_tasks_on_reset")(False)

    def __call__(self, model: Any, normalize: Any | None) -> tuple[float, float, float | None]:
        returns, successes = [], []
        for start in range(0, len(self.episodes), len(self.envs)):
            batch = self.episodes[start:start + len(self.envs)]
            r, s = self._run(model, normalize, batch)
            returns += r
            successes += s
        success = float(np.mean(successes)) if self.spec.has_success else None
        return float(np.mean(returns)), float(np.std(returns)), success

    def _run(self, model, normalize, batch: list[Episode]) -> tuple[list[float], list[bool]]:
        envs = self.envs[:len(batch)]
        obs = [self.spec.reset(env, episode)[0] for env, episode in zip(envs, batch)]
        done = [False] * len(batch)
        returns, success = [0.0] * len(batch), [False] * len(batch)
        steps = [0] * len(batch)
        while not all(done):
            active = [i for i in range(len(batch)) if not done[i]]
            stacked = _stack([obs[i] for i in active])
            if normalize is not None:
                stacked = normalize.normalize_obs(stacked)
            actions, _ = model.predict(stacked, deterministic=True)
            for action, i in zip(actions, active):
                obs[i], reward, terminated, truncated, info = envs[i].step(action)
                returns[i] += float(reward)
                steps[i] += 1
                if self.spec.is_success is not None and self.spec.is_success(info, float(reward), bool(terminated)):
                    success[i] = True
                done[i] = terminated or truncated or steps[i] >= self.spec.horizon
        return returns, success

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _stack(observations: list[Any]) -> np.ndarray:
    return np.stack(observations)


def run_id(env_id: str, seed: int) -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-ppo-{env_id.replace('/', '-').lower()}-s{seed}-{secrets.token_hex(2)}"


def train(config: PPOConfig, seed: int, progress=None) -> Path:
    """Train one seed; returns its run folder. Ctrl-C stops training and keeps what was logged."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize

    from promptpo.api import versions

    torch.set_num_threads(1)
    spec = load_spec(config.env)
    hp: Hyperparams = for_env(config.env)
    store = RunStore.create(Path(config.out), run_id(spec.id, seed), folders=())
    episodes = spec.episodes(seed, config.episodes_per_eval())
    meta = {"id": store.root.name, "kind": "ppo", "method": "ppo", "env": spec.id, "seed": seed,
            "steps": config.steps, "hyperparams": hp.values, "hyperparams_source": hp.source, "tuned": hp.tuned,
            "eval": {"points": config.eval_points, "episodes": episodes}, "versions": versions(),
            "started": now_iso(), "ended": None, "status": "running"}
    store.write_json("run.json", meta)
    n_envs = int(hp.values.get("n_envs", 1))
    venv = VecMonitor(DummyVecEnv([lambda i=i: training_env(spec, seed * 1000 + i) for i in range(n_envs)]))
    normalize = VecNormalize(venv, gamma=hp.values.get("gamma", 0.99)) if hp.values.get("normalize") else None
    model = PPO(hp.values.get("policy", "MlpPolicy"), normalize or venv, seed=seed, device="cpu", verbose=0,
                **ppo_kwargs(hp.values))
    evaluate = Evaluator(spec, episodes, seed + 7919)
    started = time.monotonic()
    curve: list[CurvePoint] = []
    every = max(1, config.steps // config.eval_points)

    def record(steps: int, finished_episodes: int) -> None:
        if normalize is not None:
            normalize.training = False
        mean, std, success = evaluate(model, normalize)
        if normalize is not None:
            normalize.training = True
        point = CurvePoint(steps, finished_episodes, mean, success, round(time.monotonic() - started, 2))
        curve.append(point)
        with open(store.root / "curve.jsonl", "a") as handle:
            handle.write(json.dumps(asdict(point)) + "\n")
        store.event("eval", **asdict(point), std_return=std)
        write_summary("running", "")
        if progress is not None:
            progress.put((seed, steps, mean, success))

    def write_summary(status: str, reason: str) -> None:
        last = curve[-1] if curve else None
        store.write_json("summary.json", {
            "run_id": store.root.name, "env": spec.id, "model": "ppo", "method": "ppo", "seed": seed,
            "status": status, "reason": reason, "best_candidate": None,
            "best_score": last.mean_return if last else None,
            "best_success_rate": last.success_rate if last else None,
            "final_return": last.mean_return if last else None,
            "final_success_rate": last.success_rate if last else None,
            "env_steps": int(model.num_timesteps), "episodes": callback.episodes,
            "llm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
            "wall_time_s": round(time.monotonic() - started, 2), "hyperparams_source": hp.source})

    class Curve(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.episodes = 0
            self.next_eval = every

        def _on_step(self) -> bool:
            self.episodes += sum(1 for info in self.locals.get("infos", []) if "episode" in info)
            if self.num_timesteps >= self.next_eval:
                record(self.num_timesteps, self.episodes)
                self.next_eval += every
            elif progress is not None and self.n_calls % 50 == 0:
                progress.put((seed, self.num_timesteps, None, None))
            return True

    callback = Curve()
    status, reason = "completed", ""
    try:
        # No evaluation before training: an untrained deterministic policy can score by accident
        # (CartPole's alternating actions), which says nothing about learning.
        model.learn(total_timesteps=config.steps, callback=callback)
        if not curve or curve[-1].env_steps != model.num_timesteps:
            record(int(model.num_timesteps), callback.episodes)
    except KeyboardInterrupt:
        status, reason = "interrupted", "stopped by the user (Ctrl-C)"
    finally:
        model.save(store.root / "model.zip")
        if normalize is not None:
            normalize.save(str(store.root / "vecnormalize.pkl"))
        evaluate.close()
        venv.close()
        write_summary(status, reason)
        store.event("run_end", status=status, reason=reason)
        meta.update(ended=now_iso(), status=status)
        store.write_json("run.json", meta)
    return store.root


def _train_in_worker(config: PPOConfig, seed: int, progress) -> str:
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    return str(train(config, seed, progress))


def run_seeds(config: PPOConfig, seeds: list[int], workers: int, on_progress=None) -> list[Path]:
    """Train the seeds in parallel worker processes; ``on_progress(seed, steps, mean, success)``."""
    import multiprocessing
    import queue
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        updates = manager.Queue()
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_train_in_worker, config, seed, updates) for seed in seeds]
            try:
                while not all(f.done() for f in futures):
                    try:
                        update = updates.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    if on_progress is not None:
                        on_progress(*update)
            except KeyboardInterrupt:
                log.warning("interrupted: waiting for the seeds to save what they logged")
                for future in futures:
                    future.result()
                raise
            return [Path(f.result()) for f in futures]
