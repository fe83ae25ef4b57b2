"""PPO baselines with Stable-Baselines3, evaluated on the same protocol as promptpo.

Each seed is its own run folder (run.json, events.jsonl, curve.jsonl, model.zip, summary.json),
so ``runs``, ``show`` and ``compare`` treat it like any other run. The learning curve is
evaluated on the evaluation grid (every ``--eval-every`` training steps, by default ``--steps`` / 20 in whole
rollouts: promptpo.baselines.hyperparams.eval_grid) on the episodes promptpo would use for the
same seed (Meta-World: success at any step over the 50 goal variations; others: mean return over
``eval_episodes`` seeded episodes), deterministically, with observation normalization frozen, and
with promptpo's episode-ending rule (Meta-World: an evaluation episode ends at its first success
unless ``--full-episodes``). Evaluation steps are not counted as training steps.
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

from promptpo.seeds import episode_secret
from promptpo.baselines.hyperparams import (Hyperparams, check_steps, eval_grid, for_env, ppo_kwargs, rollout_steps,
                                            whole_rollouts)
from promptpo.envs import load_spec
from promptpo.envspec import EnvSpec, Episode, ends_at_success
from promptpo.stats import CurvePoint
from promptpo.engine.store import RunStore, now_iso
from promptpo.outcome import RunStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PPOConfig:
    env: str
    steps: int
    """Training env steps per seed (all parallel envs together)."""
    eval_points: int = 20
    """Evaluations along training when ``eval_every`` is not given: the grid is ``steps / eval_points``."""
    eval_episodes: int | None = None
    """Episodes per evaluation; default 50 for Meta-World (every goal variation), 10 otherwise."""
    out: Path = Path("runs")
    full_episodes: bool = False
    """Evaluation episodes run to their end even where promptpo would end them at their first success."""
    eval_every: int | None = None
    """Env steps between evaluations (rounded to whole rollouts); default ``steps / eval_points``."""

    def grid(self, hp: Hyperparams) -> int:
        return eval_grid(self.steps, hp, self.eval_every, self.eval_points)

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

    def __init__(self, spec: EnvSpec, episodes: list[Episode], seed: int, end_at_success: bool = False):
        self.spec, self.episodes, self.end_at_success = spec, episodes, end_at_success
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
                succeeded, done[i] = self.spec.judge_step(steps[i], reward, terminated, truncated, info,
                                                          self.end_at_success)
                success[i] = success[i] or succeeded
        return returns, success

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _stack(observations: list[Any]) -> np.ndarray:
    return np.stack(observations)


def run_id(env_id: str, seed: int, kind: str = "ppo") -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{kind}-{env_id.replace('/', '-').lower()}-s{seed}-{secrets.token_hex(2)}"


class Trainer:
    """One PPO training (Stable-Baselines3) with its evaluation curve; reused by schedule runs."""

    def __init__(self, spec: EnvSpec, hp: Hyperparams, seed: int, episodes: list[Episode],
                 end_at_success: bool | None = None):
        """``end_at_success``: whether evaluation episodes end at their first success (default: the env's rule,
        promptpo.envspec.ends_at_success on its own target)."""
        import torch
        from stable_baselines3 import PPO
        from stable_baselines3.common.logger import Logger
        from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize

        torch.set_num_threads(1)
        self.spec, self.hp, self.seed = spec, hp, seed
        n_envs = int(hp.values.get("n_envs", 1))
        self.venv = VecMonitor(DummyVecEnv([lambda i=i: training_env(spec, seed * 1000 + i) for i in range(n_envs)]))
        self.normalize = (VecNormalize(self.venv, gamma=hp.values.get("gamma", 0.99))
                          if hp.values.get("normalize") else None)
        self.model = PPO(hp.values.get("policy", "MlpPolicy"), self.normalize or self.venv, seed=seed, device="cpu",
                         verbose=0, **ppo_kwargs(hp.values))
        # SB3's default logger makes a folder under the temp dir at every learn(); this one only
        # keeps the latest values in memory (schedules read them as training metrics).
        self.model.set_logger(Logger(folder=None, output_formats=[]))
        self.rollout = rollout_steps(hp)
        if end_at_success is None:
            end_at_success = ends_at_success(spec, spec.target)
        self.end_at_success = end_at_success
        self.evaluate = Evaluator(spec, episodes, seed + 7919, end_at_success)
        self.curve: list[CurvePoint] = []
        self.episodes = 0
        self.started = time.monotonic()

    def point(self) -> tuple[CurvePoint, float]:
        """Evaluate now (observation statistics frozen); returns the curve point and the return's std."""
        if self.normalize is not None:
            self.normalize.training = False
        mean, std, success = self.evaluate(self.model, self.normalize)
        if self.normalize is not None:
            self.normalize.training = True
        point = CurvePoint(int(self.model.num_timesteps), self.episodes, mean, success,
                           round(time.monotonic() - self.started, 2))
        self.curve.append(point)
        return point, std

    def learn(self, steps: int, every: int, on_point=None, on_steps=None, callbacks: tuple = (),
              keep_going=None) -> None:
        """Train at most ``steps`` env steps, in whole rollouts (never past the budget), evaluating at every
        multiple of ``every`` training steps (counted from the model's start, so trainings continued in parts
        stay on the grid) and at the end (the first evaluation after ``every``: an untrained deterministic
        policy can score by accident, e.g. CartPole's alternating actions)."""
        from stable_baselines3.common.callbacks import BaseCallback, CallbackList

        steps = whole_rollouts(steps, self.hp)
        if steps <= 0:
            return
        trainer, every = self, max(1, every)
        start = int(self.model.num_timesteps)

        class Curve(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.next_eval = (start // every + 1) * every

            def _on_step(self) -> bool:
                trainer.episodes += sum(1 for info in self.locals.get("infos", []) if "episode" in info)
                if self.num_timesteps >= self.next_eval:
                    point, std = trainer.point()
                    if on_point is not None:
                        on_point(point, std)
                    self.next_eval += every
                elif on_steps is not None and self.n_calls % 50 == 0:
                    on_steps(self.num_timesteps)
                return keep_going is None or keep_going()  # False stops training (e.g. a pruned trial)

        self.model.learn(total_timesteps=steps, callback=CallbackList([Curve(), *callbacks]),
                         reset_num_timesteps=False)
        if not self.curve or self.curve[-1].env_steps != self.model.num_timesteps:
            point, std = self.point()
            if on_point is not None:
                on_point(point, std)

    def save(self, folder: Path) -> None:
        self.model.save(folder / "model.zip")
        if self.normalize is not None:
            self.normalize.save(str(folder / "vecnormalize.pkl"))

    def close(self) -> None:
        self.evaluate.close()
        self.venv.close()


def train(config: PPOConfig, seed: int, progress=None) -> Path:
    """Train one seed; returns its run folder. Ctrl-C stops training and keeps what was logged."""
    from promptpo.engine.launch import versions

    spec = load_spec(config.env)
    hp: Hyperparams = for_env(config.env)
    check_steps("steps", config.steps, hp, spec.id)
    store = RunStore.create(Path(config.out), run_id(spec.id, seed), folders=())
    episodes = spec.episodes(seed, config.episodes_per_eval(), episode_secret())  # promptpo's episodes for the seed
    end = ends_at_success(spec, spec.target, config.full_episodes)
    meta = {"id": store.root.name, "kind": "ppo", "method": "ppo", "env": spec.id, "seed": seed,
            "steps": config.steps, "hyperparams": hp.values, "hyperparams_source": hp.source, "tuned": hp.tuned,
            "eval": {"every": config.grid(hp), "episodes": episodes}, "eval_every": config.grid(hp),
            "end_at_success": end,
            "versions": versions(), "started": now_iso(), "ended": None, "status": "running"}
    store.write_json("run.json", meta)
    trainer = Trainer(spec, hp, seed, episodes, end)

    def write_summary(status: str, reason: str) -> None:
        store.write_json("summary.json", curve_summary(store.root.name, spec.id, "ppo", seed, status, reason,
                                                       trainer, hyperparams_source=hp.source))

    def on_point(point: CurvePoint, std: float) -> None:
        append_point(store, point, std)
        write_summary("running", "")
        if progress is not None:
            progress.put((seed, point.env_steps, point.mean_return, point.success_rate))

    status, reason = RunStatus.COMPLETED, ""
    try:
        trainer.learn(config.steps, config.grid(hp), on_point,
                      on_steps=None if progress is None else lambda n: progress.put((seed, n, None, None)))
    except KeyboardInterrupt:
        status, reason = RunStatus.INTERRUPTED, "stopped by the user (Ctrl-C)"
    finally:
        trainer.save(store.root)
        trainer.close()
        write_summary(status, reason)
        store.event("run_end", status=status, reason=reason)
        meta.update(ended=now_iso(), status=status)
        store.write_json("run.json", meta)
    return store.root


def append_point(store: RunStore, point: CurvePoint, std: float) -> None:
    """One evaluation of a learning curve: curve.jsonl (for compare) and the event log."""
    with open(store.root / "curve.jsonl", "a") as handle:
        handle.write(json.dumps(asdict(point)) + "\n")
    store.event("eval", **asdict(point), std_return=std)


def curve_summary(run: str, env: str, method: str, seed: int, status: str, reason: str, trainer: Trainer,
                  **extra: Any) -> dict:
    last = trainer.curve[-1] if trainer.curve else None
    return {"run_id": run, "env": env, "model": method, "method": method, "seed": seed, "status": status,
            "reason": reason, "best_candidate": None, "best_score": last.mean_return if last else None,
            "best_success_rate": last.success_rate if last else None,
            "final_return": last.mean_return if last else None,
            "final_success_rate": last.success_rate if last else None,
            "env_steps": int(trainer.model.num_timesteps), "episodes": trainer.episodes,
            "llm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
            "wall_time_s": round(time.monotonic() - trainer.started, 2), **extra}


def _train_in_worker(config: PPOConfig, seed: int, progress) -> str:
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    return str(train(config, seed, progress))


def train_packed(config: PPOConfig, seed: int) -> tuple[str, bytes]:
    """One seed trained wherever this runs (a Ray node) into a scratch folder: (its run folder's name, the
    folder packed as .tar.gz)."""
    import dataclasses
    import tempfile

    from promptpo.isolation.cluster import pack

    with tempfile.TemporaryDirectory(prefix="promptpo-ppo-") as scratch:
        folder = train(dataclasses.replace(config, out=Path(scratch)), seed)
        return folder.name, pack(folder)


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
