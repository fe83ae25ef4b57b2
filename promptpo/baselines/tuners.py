"""Hyperparameter-search baselines under a total env-step budget: Optuna TPE and Ray Tune PBT.

Every env step any trial or population member trains counts against the budget. A run folder
per seed (kind ``optuna`` / ``pbt``) holds run.json, events.jsonl, curve.jsonl and summary.json;
its curve is every evaluation as measured over the cumulative steps of all trials (each trial evaluated on
the evaluation grid), and its final return is the best trial's last evaluation.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

from promptpo.seeds import episode_secret
from promptpo.baselines.hyperparams import Hyperparams, check_steps, eval_grid, for_env
from promptpo.baselines.ppo import Trainer, run_id
from promptpo.envs import load_spec
from promptpo.stats import CurvePoint
from promptpo.engine.store import RunStore, now_iso

log = logging.getLogger(__name__)

# The static hyperparameters both searches explore (what a schedule may also change).
SPACE = {"learning_rate": (1e-5, 1e-2, "log"), "ent_coef": (0.0, 0.05, "linear"), "clip_range": (0.1, 0.4, "linear"),
         "vf_coef": (0.2, 1.0, "linear"), "max_grad_norm": (0.3, 5.0, "log")}


@dataclass(frozen=True)
class SearchConfig:
    env: str
    steps: int
    """Total env-step budget per seed, over all trials or population members."""
    trial_steps: int
    """Optuna: steps of one trial. PBT: steps between two exploit/explore decisions."""
    eval_points: int = 20
    """Evaluations over ``steps`` when ``eval_every`` is not given: the grid is ``steps / eval_points`` (the pruner
    sees each of a trial's)."""
    eval_episodes: int | None = None
    population: int = 4
    out: Path = Path("runs")
    eval_every: int | None = None
    """Env steps between evaluations of a trial or member, in whole rollouts."""

    def grid(self, hp: Hyperparams) -> int:
        return eval_grid(self.steps, hp, self.eval_every, self.eval_points)

    def episodes(self) -> int:
        return self.eval_episodes or (50 if self.env.startswith("metaworld/") else 10)


def _with(hp: Hyperparams, params: dict[str, float]) -> Hyperparams:
    return Hyperparams({**hp.values, **params}, hp.source, hp.tuned)


class Recorder:
    """The run folder of one search: best-so-far curve over cumulative steps, and a summary."""

    def __init__(self, kind: str, config: SearchConfig, seed: int, hp: Hyperparams, extra: dict):
        from promptpo.engine.launch import versions

        self.spec = load_spec(config.env)
        self.kind, self.config, self.seed = kind, config, seed
        self.store = RunStore.create(Path(config.out), run_id(self.spec.id, seed, kind), folders=())
        self.meta = {"id": self.store.root.name, "kind": kind, "method": kind, "env": self.spec.id, "seed": seed,
                     "steps": config.steps, "hyperparams": hp.values, "hyperparams_source": hp.source,
                     "space": SPACE, "eval_every": config.grid(hp), **extra, "versions": versions(), "started": now_iso(), "ended": None,
                     "status": "running"}
        self.store.write_json("run.json", self.meta)
        self.curve: list[CurvePoint] = []
        self.spent = self.episodes = 0
        self.best = float("-inf")
        self.best_success: float | None = None
        self.last: dict[Any, tuple[float, float | None]] = {}
        """Each trial's (member's) latest evaluation: the final returns the summary reports."""
        self.started = time.monotonic()
        self.progress: Callable[[int, float | None], None] | None = None
        """Called with (env steps spent, best return so far) as the search goes."""

    def point(self, new_steps: int, new_episodes: int, mean_return: float, success: float | None, trial: Any = None,
              **info: Any) -> None:
        self.spent += new_steps
        self.episodes += new_episodes
        if mean_return > self.best:
            self.best, self.best_success = mean_return, success
        self.last[trial] = (mean_return, success)
        point = CurvePoint(self.spent, self.episodes, mean_return, success, round(time.monotonic() - self.started, 2))
        self.curve.append(point)
        with open(self.store.root / "curve.jsonl", "a") as handle:
            handle.write(json.dumps(asdict(point)) + "\n")
        self.store.event("eval", **asdict(point), this_return=mean_return, best_return=self.best, trial=trial, **info)
        if self.progress is not None:
            self.progress(self.spent, self.best)

    def finish(self, status: str, reason: str = "", **extra: Any) -> Path:
        final = max(self.last.values(), key=lambda v: v[0], default=(None, None))  # the best trial's last evaluation
        self.store.write_json("summary.json", {
            "run_id": self.store.root.name, "env": self.spec.id, "model": self.kind, "method": self.kind,
            "seed": self.seed, "status": status, "reason": reason, "best_candidate": None,
            "best_score": self.best if self.curve else None, "best_success_rate": self.best_success,
            "final_return": final[0], "final_success_rate": final[1],
            "env_steps": self.spent, "episodes": self.episodes, "llm_calls": 0, "prompt_tokens": 0,
            "completion_tokens": 0, "cost_usd": 0.0, "wall_time_s": round(time.monotonic() - self.started, 2),
            **extra})
        self.store.event("run_end", status=status, reason=reason)
        self.meta.update(ended=now_iso(), status=status)
        self.store.write_json("run.json", self.meta)
        return self.store.root


def run_optuna(config: SearchConfig, seed: int, progress: Callable[[int, float | None], None] | None = None) -> Path:
    """Optuna TPE over static PPO hyperparameters with a median pruner, until the budget is spent."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    hp = for_env(config.env)
    check_steps("--trial-steps", config.trial_steps, hp, config.env)
    record = Recorder("optuna", config, seed, hp, {"trial_steps": config.trial_steps})
    record.progress = progress
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    episodes = record.spec.episodes(seed, config.episodes(), episode_secret())
    trials = 0
    status, reason = "completed", ""
    try:
        while record.spent + config.trial_steps <= config.steps:
            _optuna_trial(study, study.ask(), record, config, hp, seed + 101 * trials, episodes)
            trials += 1
        reason = f"budget spent: {record.spent} env steps over {trials} trials"
    except KeyboardInterrupt:
        status, reason = "interrupted", "stopped by the user (Ctrl-C)"
    best = study.best_trial if any(t.state.name == "COMPLETE" for t in study.trials) else None
    return record.finish(status, reason, trials=trials,
                         pruned=sum(t.state.name == "PRUNED" for t in study.trials),
                         best_params=best.params if best else None)


def _optuna_trial(study, trial, record: Recorder, config: SearchConfig, hp: Hyperparams, seed: int,
                  episodes: list) -> None:
    """Train one trial, reporting each evaluation to the pruner and every step to the record."""
    import optuna

    params = {name: trial.suggest_float(name, low, high, log=scale == "log") for name, (low, high, scale) in SPACE.items()}
    trainer = Trainer(record.spec, _with(hp, params), seed, episodes)
    pruned, values, last = False, [], [0, 0]

    def on_point(point: CurvePoint, std: float) -> None:
        nonlocal pruned
        values.append(point.mean_return)
        trial.report(point.mean_return, len(values))
        record.point(point.env_steps - last[0], point.episodes - last[1], point.mean_return, point.success_rate,
                     trial=trial.number, params=params)
        last[:] = [point.env_steps, point.episodes]
        pruned = trial.should_prune()

    try:
        trainer.learn(config.trial_steps, config.grid(hp), on_point, keep_going=lambda: not pruned)
    finally:
        trainer.close()
    if pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, sum(values) / len(values))  # the area under this trial's curve


def _read_ledger(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


class _Watch:
    """While Tune runs, reports the steps the members' ledgers add up to (for a progress bar)."""

    def __init__(self, storage: str, progress: Callable[[int, float | None], None] | None):
        self.storage, self.progress = Path(storage), progress
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                reports = [r for ledger in self.storage.glob("ledger-*.jsonl") for r in _read_ledger(ledger)]
            except (OSError, ValueError):  # a line being written: next time
                continue
            if reports:
                self.progress(sum(r["new_steps"] for r in reports), max(r["mean_return"] for r in reports))

    def __enter__(self) -> _Watch:
        if self.progress is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


class _Decisions(logging.Handler):
    """Collects the PBT scheduler's log lines (which member was cloned into which, what was perturbed)."""

    LOGGER = "ray.tune.schedulers.pbt"

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())

    def __enter__(self) -> _Decisions:
        target = logging.getLogger(self.LOGGER)
        self._saved = target.level, target.propagate
        target.setLevel(logging.INFO)
        target.propagate = False
        target.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        target = logging.getLogger(self.LOGGER)
        target.removeHandler(self)
        target.setLevel(self._saved[0])
        target.propagate = self._saved[1]


def start_ray(num_cpus: int, **options) -> None:
    """A local Ray whose workers run at normal priority: Ray's default (nice 15) starves the members
    whenever anything else is busy (on a loaded 2-core machine PBT ran 18x slower), and they are the work."""
    import ray

    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, **options)


def run_pbt(config: SearchConfig, seed: int, progress: Callable[[int, float | None], None] | None = None) -> Path:
    """Population-Based Training (Ray Tune's PBT scheduler), every member's steps counted."""
    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    hp = for_env(config.env)
    per_member = config.steps // config.population
    check_steps("--interval", config.trial_steps, hp, config.env)
    check_steps("--steps / --population", per_member, hp, config.env)
    record = Recorder("pbt", config, seed, hp, {"population": config.population, "interval": config.trial_steps,
                                                "eval_every": config.trial_steps})  # each member, once per interval
    spec_id, episodes = record.spec.id, record.spec.episodes(seed, config.episodes(), episode_secret())
    mutations = {name: (tune.loguniform(low, high) if scale == "log" else tune.uniform(low, high))
                 for name, (low, high, scale) in SPACE.items()}

    def member(params: dict) -> None:
        from promptpo.baselines.ppo import Trainer as MemberTrainer
        from promptpo.envs import load_spec as load

        spec = load(spec_id)
        trainer = MemberTrainer(spec, _with(for_env(spec_id), {k: params[k] for k in SPACE}), params["seed"],
                                episodes)
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:  # PBT exploited a better member: continue from its weights
            with checkpoint.as_directory() as folder:
                trainer.model.set_parameters(os.path.join(folder, "model.zip"), device="cpu")
                trainer.model.num_timesteps = json.loads(Path(folder, "state.json").read_text())["env_steps"]
        # Every member writes what it trained to its own ledger, which survives its restarts (a
        # member cloned from one behind it restarts at the donor's step count, so the model's age
        # is not its spending) and is what the run folder counts: Tune's own result tables do not
        # keep every report of a member that was cloned into.
        trial = tune.get_context().get_trial_id()
        ledger = Path(storage, f"ledger-{trial}.jsonl")
        spent = sum(r["new_steps"] for r in _read_ledger(ledger))
        while per_member - spent >= trainer.rollout:  # whole rollouts, within the member's share
            before, episodes_before = trainer.model.num_timesteps, trainer.episodes
            trainer.learn(min(config.trial_steps, per_member - spent), config.trial_steps)  # one evaluation per interval
            point = trainer.curve[-1]
            report = {"time": time.time(), "member": trial, "mean_return": point.mean_return,
                      "env_steps": int(trainer.model.num_timesteps), "new_steps": int(trainer.model.num_timesteps - before),
                      "new_episodes": trainer.episodes - episodes_before, "success_rate": point.success_rate}
            spent += report["new_steps"]
            with open(ledger, "a") as handle:
                handle.write(json.dumps(report) + "\n")
            with tempfile.TemporaryDirectory() as folder:
                trainer.model.save(os.path.join(folder, "model.zip"))
                Path(folder, "state.json").write_text(json.dumps({"env_steps": int(trainer.model.num_timesteps)}))
                tune.report(report, checkpoint=tune.Checkpoint.from_directory(folder))
        trainer.close()

    status, reason = "completed", ""
    storage = tempfile.mkdtemp(prefix="promptpo-pbt-")
    decisions = _Decisions()  # PBT's exploit/explore lines go to the event log, not the terminal
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # with verbose=0: no experiment tables on the terminal
    # Ray Tune's own SIGINT handler ends fit() quietly (the run would read 'budget spent') and stays installed
    # after it, swallowing the next Ctrl-C: Ctrl-C raises KeyboardInterrupt here, and SIGUSR1 is put back after.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    usr1 = signal.getsignal(signal.SIGUSR1) if threading.current_thread() is threading.main_thread() else None
    started_ray = not ray.is_initialized()
    ray_logger = logging.getLogger("ray")
    saved_level = ray_logger.level
    if started_ray:  # Ray's own start-up and log-restore warnings are not the user's business here
        ray_logger.setLevel(logging.ERROR)
        start_ray(num_cpus=os.cpu_count() or 2, configure_logging=False)
    try:
        scheduler = PopulationBasedTraining(time_attr="env_steps", perturbation_interval=config.trial_steps,
                                            hyperparam_mutations=mutations, quantile_fraction=0.25)
        param_space = {name: (tune.loguniform(low, high) if scale == "log" else tune.uniform(low, high))
                       for name, (low, high, scale) in SPACE.items()}
        param_space["seed"] = tune.randint(0, 2**31 - 1)
        tuner = tune.Tuner(member, param_space=param_space,
                           tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=config.population,
                                                       metric="mean_return", mode="max"),
                           run_config=tune.RunConfig(storage_path=storage, name="pbt", verbose=0))
        with decisions, warnings.catch_warnings(), _Watch(storage, progress):
            warnings.filterwarnings("ignore", message=".*reuse_actors.*")
            results = tuner.fit()
        errors = [str(r.error) for r in results if r.error is not None]
        if errors:
            log.warning("%d PBT member(s) failed: %s", len(errors), errors[0].splitlines()[0])
        reports = [r for ledger in sorted(Path(storage).glob("ledger-*.jsonl")) for r in _read_ledger(ledger)]
        for r in sorted(reports, key=lambda r: (r["time"], r["member"])):
            record.point(r["new_steps"], r["new_episodes"], r["mean_return"], r["success_rate"], trial=r["member"])
        for message in decisions.messages:
            record.store.event("pbt_decision", message=message)
        reason = f"budget spent: {record.spent} env steps over {config.population} members"
    except KeyboardInterrupt:
        status, reason = "interrupted", "stopped by the user (Ctrl-C)"
    finally:
        if usr1 is not None:
            signal.signal(signal.SIGUSR1, usr1)
        if started_ray:
            ray.shutdown()
            ray_logger.setLevel(saved_level)
        shutil.rmtree(storage, ignore_errors=True)  # Ray Tune's checkpoints; the run folder has the results
    return record.finish(status, reason)
