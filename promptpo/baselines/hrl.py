"""SAM-HRL-HS: a manager learns which worker to send to which region of PPO's hyperparameter space.

Each activation the manager picks a (worker, region) pair (promptpo.baselines.regions); the worker, a
well-kept optimizer restricted to that region (Optuna's TPE, CMA-ES or random sampler, one study per
region so it learns across activations), proposes ``--trials-per-activation`` trials; each trial trains
PPO for ``--trial-steps`` and is evaluated on the run's grid. The manager's reward is the HyperScore of
the trial's final return (promptpo.baselines.hyperscore), whose beta, gamma and kappa are fitted after a
warm-up of trials and refitted as trials accrue. The learned manager is REINFORCE with a running-mean
baseline over two softmax heads (worker, region); ``--manager llm`` lets an LLM backend choose instead,
with the learned manager's choice as the fallback for an unusable answer. Every trial's env steps count
against ``--steps``; the run folder is a baseline's (kind ``hrl``): curve.jsonl, events, summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from promptpo.seeds import episode_secret
from promptpo.baselines import hyperscore
from promptpo.baselines.hyperparams import Hyperparams, for_env, rollout_steps
from promptpo.baselines.ppo import Trainer
from promptpo.baselines.regions import N_STEPS_FACTORS, SPACE, Region, hyperparams, regions
from promptpo.baselines.tuners import Recorder, SearchConfig
from promptpo.errors import ConfigError
from promptpo.outcome import RunStatus

WORKERS = ("tpe", "cmaes", "random")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


class Manager:
    """REINFORCE over (worker, region) with a factorised softmax policy and a running-mean baseline."""

    def __init__(self, workers: int, regions_: int, seed: int, lr: float = 0.5, baseline_rate: float = 0.2):
        self.worker_logits, self.region_logits = np.zeros(workers), np.zeros(regions_)
        self.rng = np.random.default_rng(seed)
        self.lr, self.baseline_rate = lr, baseline_rate
        self.baseline: float | None = None

    def probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        return softmax(self.worker_logits), softmax(self.region_logits)

    def choose(self) -> tuple[int, int]:
        pw, pr = self.probabilities()
        return int(self.rng.choice(len(pw), p=pw)), int(self.rng.choice(len(pr), p=pr))

    def update(self, worker: int, region: int, reward: float) -> float:
        """One policy-gradient step on ``reward`` for the pair chosen; returns the advantage used."""
        if self.baseline is None:
            self.baseline = reward
        advantage = reward - self.baseline
        pw, pr = self.probabilities()
        self.worker_logits += self.lr * advantage * (np.eye(len(pw))[worker] - pw)
        self.region_logits += self.lr * advantage * (np.eye(len(pr))[region] - pr)
        self.baseline += self.baseline_rate * (reward - self.baseline)
        return advantage


class Worker:
    """An Optuna sampler confined to a region: one study per region, asked and told in unit coordinates."""

    def __init__(self, name: str, seed: int):
        self.name, self.seed = name, seed
        self.studies: dict[int, object] = {}

    def _study(self, region: Region):
        import optuna

        if region.index not in self.studies:
            seed = self.seed * 1009 + region.index
            sampler = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=2),
                       "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=1,
                                                                     warn_independent_sampling=False),
                       "random": lambda: optuna.samplers.RandomSampler(seed=seed)}[self.name]()
            self.studies[region.index] = optuna.create_study(direction="maximize", sampler=sampler)
        return self.studies[region.index]

    def ask(self, region: Region):
        """(optuna trial, unit coordinates), the coordinates inside ``region``."""
        from optuna.distributions import FloatDistribution

        trial = self._study(region).ask({d.name: FloatDistribution(*region.bounds(k)) for k, d in enumerate(SPACE)})
        return trial, {d.name: float(trial.params[d.name]) for d in SPACE}

    def tell(self, region: Region, trial, value: float) -> None:
        self._study(region).tell(trial, value)


@dataclass(frozen=True)
class HRLConfig:
    search: SearchConfig
    trials_per_activation: int = 2
    warmup: int = 6
    """Trials before the HyperScore is first fitted (the defaults score them until then)."""
    refit_every: int = 4
    manager: str = "learned"
    """learned (REINFORCE) or llm (an LLM backend chooses; promptpo.baselines.llm_manager)."""
    lr: float = 0.5


@dataclass
class Trial:
    number: int
    worker: str
    region: int
    unit: dict[str, float]
    params: dict
    early: float
    final: float
    steps: int
    early_success: float | None = None
    final_success: float | None = None
    hyperscore: float = 0.0
    chooser: str = "manager"
    """Who chose its (worker, region): manager, llm, or fallback (an unusable LLM answer)."""


@dataclass
class State:
    """What the manager (learned or LLM) sees: the trials so far and the current HyperScore fit."""

    trials: list[Trial] = field(default_factory=list)
    fit: hyperscore.Fit = field(default_factory=hyperscore.Fit)


def _floor_and_target(spec) -> tuple[float, float, bool]:
    """(worst return, target return, judged by success) used to normalise results into (0, 1]."""
    from promptpo.envs.targets import RETURN_FLOOR

    target = spec.target
    by_success = target is not None and target.metric == "success_rate"
    return RETURN_FLOOR.get(spec.id, float("nan")), (target.threshold if target else float("nan")), by_success


def run_hrl(config: HRLConfig, seed: int, progress: Callable[[int, float | None], None] | None = None,
            manager_for: Callable | None = None) -> object:
    """The search on one seed; returns the run folder. ``manager_for(record, hp, regions, config)`` makes a chooser,
    ``chooser(state, fallback) -> (worker, region, who)``, that replaces the learned manager's choice (the LLM
    manager, promptpo.baselines.llm_manager)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = config.search
    hp = for_env(s.env)
    largest = rollout_steps(Hyperparams({**hp.values, "n_steps": int(int(hp.values.get("n_steps", 2048))
                                                                       * max(N_STEPS_FACTORS))}, "", False))
    if s.trial_steps < 2 * largest:
        raise ConfigError(f"--trial-steps {s.trial_steps} is less than two of the longest PPO rollouts the search "
                          f"may choose for {s.env} ({largest} env steps)", f"give --trial-steps at least {2 * largest}")
    every = max(1, min(s.grid(hp), s.trial_steps // 2))  # at least an early and a final evaluation per trial
    all_regions = regions()
    record = Recorder("hrl", s, seed, hp, {
        "trial_steps": s.trial_steps, "manager": config.manager, "workers": list(WORKERS),
        "trials_per_activation": config.trials_per_activation, "warmup": config.warmup, "eval_every": every,
        "space": [{"name": d.name, "low": d.low, "high": d.high, "scale": d.scale} for d in SPACE],
        "regions": [r.describe(hp) for r in all_regions]})
    record.progress = progress
    chooser = manager_for(record, hp, all_regions, config) if manager_for is not None else None
    manager = Manager(len(WORKERS), len(all_regions), seed, config.lr)
    workers = [Worker(name, seed) for name in WORKERS]
    episodes = record.spec.episodes(seed, s.episodes(), episode_secret())
    floor, target, by_success = _floor_and_target(record.spec)
    state, status, reason = State(), RunStatus.COMPLETED, ""
    lowest = [float("inf")]

    def value(mean: float, success: float | None) -> float:
        if by_success:
            return max(1e-6, success or 0.0)
        low = floor if math.isfinite(floor) else min(lowest[0], mean) - 1.0
        return hyperscore.normalized(mean, low, target if math.isfinite(target) else max(mean, low + 1.0))

    try:
        while record.spent + s.trial_steps <= s.steps:
            w, r = manager.choose()
            who = "manager"
            if chooser is not None:
                w, r, who = chooser(state, (w, r))
            pw, pr = manager.probabilities()
            record.store.event("activation", worker=WORKERS[w], region=r, region_text=all_regions[r].describe(hp),
                               chooser=who, p_worker=[round(float(p), 4) for p in pw],
                               p_region=round(float(pr[r]), 4))
            for _ in range(config.trials_per_activation):
                if record.spent + s.trial_steps > s.steps:
                    break
                trial = _trial(record, workers[w], all_regions[r], hp, seed, episodes, s.trial_steps, every,
                               len(state.trials))
                trial.chooser = who
                lowest[0] = min(lowest[0], trial.early, trial.final)
                state.trials.append(trial)
                if len(state.trials) >= config.warmup and (state.fit.trials == 0 or
                                                           len(state.trials) - state.fit.trials >= config.refit_every):
                    state.fit = hyperscore.fit([value(t.early, t.early_success) for t in state.trials],
                                               [t.final for t in state.trials], seed=seed)
                    record.store.event("hyperscore_fit", **state.fit.to_json())
                trial.hyperscore = round(state.fit.score(value(trial.final, trial.final_success)), 4)
                advantage = manager.update(w, r, (trial.hyperscore - 100.0) / 100.0)
                record.store.event("trial", **trial.__dict__, advantage=round(advantage, 4))
        reason = f"budget spent: {record.spent} env steps over {len(state.trials)} trials"
    except KeyboardInterrupt:
        status, reason = RunStatus.INTERRUPTED, "stopped by the user (Ctrl-C)"
    best = max(state.trials, key=lambda t: t.final, default=None)
    pw, pr = manager.probabilities()
    return record.finish(status, reason, trials=len(state.trials), hyperscore_fit=state.fit.to_json(),
                         best_params=best.params if best else None,
                         manager={"p_worker": dict(zip(WORKERS, (round(float(p), 4) for p in pw))),
                                  "top_regions": [int(i) for i in np.argsort(-pr)[:3]]},
                         choosers={who: sum(t.chooser == who for t in state.trials)
                                   for who in ("manager", "llm", "fallback")},
                         **getattr(chooser, "usage", {}))


def _trial(record: Recorder, worker: Worker, region: Region, hp: Hyperparams, seed: int, episodes: list,
           steps: int, every: int, number: int) -> Trial:
    """Train one trial of ``worker``'s proposal in ``region``; every evaluation goes to the record."""
    optuna_trial, unit = worker.ask(region)
    trial_hp = hyperparams(unit, hp)
    trainer = Trainer(record.spec, trial_hp, seed + 101 * number, episodes)
    last = [0, 0]

    def on_point(point, std: float) -> None:
        record.point(point.env_steps - last[0], point.episodes - last[1], point.mean_return, point.success_rate,
                     trial=number, worker=worker.name, region=region.index)
        last[:] = [point.env_steps, point.episodes]

    try:
        trainer.learn(steps, every, on_point)
    finally:
        trainer.close()
    curve = trainer.curve
    final = curve[-1] if curve else None
    worker.tell(region, optuna_trial, final.mean_return if final else float("-inf"))
    params = {d.name: trial_hp.values[d.name] for d in SPACE} | {"batch_size": trial_hp.values["batch_size"]}
    first = curve[0] if curve else None
    return Trial(number, worker.name, region.index, {k: round(v, 6) for k, v in unit.items()}, params,
                 first.mean_return if first else float("-inf"), final.mean_return if final else float("-inf"),
                 last[0], first.success_rate if first else None, final.success_rate if final else None)
