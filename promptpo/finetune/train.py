"""One seed of a fine-tuning (or an off-policy learner from scratch) into its run folder.

The folder holds run.json (settings, the base's run, candidate and SHA-256), base.py (the program, so the folder
alone can be re-run), curve.jsonl (evaluations on the evaluation grid, at the total env steps: the base run's own
plus training's, so it continues the program's curve), events.jsonl (evaluations, roll-backs, the judgement),
checkpoint.zip and replay.pkl (to resume), best.pt (the best evaluated actor), model.zip (the result's learner) and
summary.json. Evaluation and judgement episodes are played on separate environments and not counted as training
steps, as in the PPO baseline.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from promptpo.baselines.ppo import append_point, training_env
from promptpo.engine.signals import interrupt_on_signals, stop_if_signalled
from promptpo.engine.state import Interrupted
from promptpo.engine.store import RunStore, now_iso
from promptpo.envs import load_spec
from promptpo.envspec import ends_at_success
from promptpo.errors import RunStoreError
from promptpo.finetune.base import sandboxed
from promptpo.finetune.checkpoint import drop_points_after, read_state, signatures
from promptpo.finetune.config import OFF_POLICY, FinetuneConfig
from promptpo.finetune.folder import start, summary
from promptpo.finetune.learner import arm, learner_class, make_model
from promptpo.finetune.residual import CombinedPolicy, Correction, ResidualEnv, play
from promptpo.finetune.rollback import fell, recorded_spread
from promptpo.outcome import RunStatus
from promptpo.policy.loader import PolicyFailed
from promptpo.seeds import episode_secret
from promptpo.stats import CurvePoint

KEEP_P = 0.1
"""The fine-tuned policy replaces the base only when it is better on the fresh episodes with a one-sided paired
t-test's p below this (a gain noise could make is not taken: the user is never left with a worse policy by chance)."""
JUDGE_SEED = 104_729
"""The judgement's episodes are drawn for seed + this: fresh, never evaluated along training."""


class Finetuning:
    """The learner, its environments and the base's sandbox workers for one seed; ``run()`` trains to the end."""

    def __init__(self, config: FinetuneConfig, seed: int, store: RunStore, resumed: bool = False):
        self.config, self.seed, self.store = config, seed, store
        self.spec = load_spec(config.env)
        self.end_at_success = ends_at_success(self.spec, self.spec.target)
        base = config.base
        self.train_base = sandboxed(base, self.spec, config.sandbox, seed) if base else None
        self.salt = secrets.token_hex(8)  # the evaluation workers' RNG seeds: the same in every one, so arms pair
        task_env = training_env(self.spec, seed)
        self.correction = Correction.of(self.spec, config)
        self.env = ResidualEnv(task_env, self.correction, self.train_base)
        self.eval_env = training_env(self.spec, seed + 7919)
        if self.spec.family == "metaworld":  # evaluation plays the goal each episode names
            self.eval_env.get_wrapper_attr("toggle_sample_tasks_on_reset")(False)
        self.episodes = self.spec.episodes(seed, config.eval_episodes, episode_secret())
        self.offset = base.env_steps if base else 0
        self.started = time.monotonic()
        self.recorded = (0.0, 0)  # the best's spread when the state has no returns (see _load): the means decide
        self.state = {"best_return": None, "best_at": None, "best_returns": None, "rollbacks": 0, "episodes": 0,
                      "wall_time_s": 0.0, "evaluated_at": None}
        import torch

        torch.set_num_threads(1)  # a resumed learner too: torch's one thread a core stalls beside another learner
        if resumed:
            self.model = self._load()
            if self.state["best_at"] is not None:  # a damaged best.pt is refused now, not at the judgement
                self._best_state()
        else:
            self.model = make_model(config, self.env, seed, self.spec.id)
        from stable_baselines3.common.logger import Logger

        self.model.set_logger(Logger(folder=None, output_formats=[]))

    # -- what the learner's policy scores ------------------------------------------------------------------------
    def policy(self, with_learner: bool = True) -> CombinedPolicy:
        """The base in a fresh sandbox worker (with or without the learner): nothing a base remembers carries from
        one evaluation, or one arm of the judgement, to the next, so it cannot play one worse to favour the
        other. ``close()`` it after use."""
        base = self.config.base
        worker = sandboxed(base, self.spec, self.config.sandbox, self.seed + 1, self.salt) if base else None
        return CombinedPolicy(worker, self.model if with_learner else None, self.correction)

    def play(self, episodes, with_learner: bool = True) -> tuple[list[float], list[bool], list[int]]:
        policy = self.policy(with_learner)
        try:
            return play(policy, self.spec, self.eval_env, episodes, self.end_at_success)
        finally:
            policy.close()

    def evaluate(self, episodes=None) -> tuple[list[float], list[bool]]:
        returns, successes, _ = self.play(episodes or self.episodes)
        return returns, successes

    @property
    def trained(self) -> int:
        return int(self.model.num_timesteps)

    def point(self) -> CurvePoint:
        """Evaluate now; keep the best actor, or roll back to it when this one fell too far."""
        stop_if_signalled()  # a Ctrl-C a finalizer swallowed (SB3 and the sandbox have some) still stops it here
        returns, successes = self.evaluate()
        mean = float(np.mean(returns))
        success = float(np.mean(successes)) if self.spec.has_success else None
        point = CurvePoint(self.offset + self.trained, self.state["episodes"], mean, success,
                           round(self.state["wall_time_s"] + time.monotonic() - self.started, 2))
        append_point(self.store, point, float(np.std(returns)))
        self.state["evaluated_at"] = self.trained
        best = self.state["best_return"]
        if best is None or mean > best:
            self.state.update(best_return=mean, best_at=self.trained, best_returns=[float(r) for r in returns])
            self._save_actor()
        elif self.config.residual and self._fell(returns, best):
            self._restore_actor()
            self.state["rollbacks"] += 1
            self.store.event("rollback", env_steps=point.env_steps, mean_return=mean, best_return=best,
                             best_at=self.offset + self.state["best_at"])
        return point

    def _fell(self, returns: list[float], best: float) -> bool:
        return fell(returns, best, self.config.rollback, self.state.get("best_returns") or self.recorded)

    # -- training ------------------------------------------------------------------------------------------------
    def run(self, progress=None, until: int | None = None) -> RunStatus:
        """Train to ``until`` (``config.steps`` unless given) in grid-sized parts, evaluating after each (and at step
        0), checkpointing."""
        from stable_baselines3.common.callbacks import BaseCallback

        finetuning = self

        class Count(BaseCallback):
            def _on_step(self) -> bool:
                finetuning.state["episodes"] += sum(1 for info in self.locals.get("infos", []) if "episode" in info)
                if progress is not None and self.n_calls % 200 == 0:
                    progress(finetuning.seed, self.num_timesteps, None)
                return True

        if self.state["evaluated_at"] != self.trained:  # step 0, or a resumed learner stopped before its evaluation
            self._report(self.point(), progress)
            self.checkpoint()
        until = self.config.steps if until is None else until
        while self.trained < until:
            target = min(until, (self.trained // self.config.grid + 1) * self.config.grid)
            self.model.learn(total_timesteps=target - self.trained, callback=Count(), reset_num_timesteps=False,
                             progress_bar=False)
            self._report(self.point(), progress)
            self.checkpoint()
        return RunStatus.COMPLETED

    def _report(self, point: CurvePoint, progress) -> None:
        if progress is not None:
            progress(self.seed, self.trained, point.mean_return)

    # -- the end: the better of base and fine-tuned on fresh episodes -------------------------------------------
    def judge(self) -> dict:
        """On fresh episodes: a residual's best evaluated learner against the base (the base's seeds paired by
        episode), the result being the fine-tuned policy only where it is better beyond noise (KEEP_P); a learner
        from scratch, its last policy."""
        fresh = self.spec.episodes(self.seed + JUDGE_SEED, self.config.judge_episodes, episode_secret())
        best_at = self.state["best_at"] or 0
        if self.config.residual and best_at != self.trained:
            self._restore_actor()  # model.zip is then the best learner
        arms = [True, False] if self.config.residual else [True]
        secrets.SystemRandom().shuffle(arms)  # which arm plays first is not something a base can count on
        played = {arm: self.play(fresh, with_learner=arm) for arm in arms}
        tuned, tuned_success, _ = played[True]
        judged: dict[str, Any] = {"episodes": len(fresh), "finetuned_return": float(np.mean(tuned)),
                                  "finetuned_std": float(np.std(tuned)), "result": "finetuned"}
        if self.spec.has_success:
            judged["finetuned_success"] = float(np.mean(tuned_success))
        if self.config.residual:
            from scipy import stats

            base, base_success, _ = played[False]
            p_value = _paired_p(stats, tuned, base)
            keep = (best_at > 0 and float(np.mean(tuned)) > float(np.mean(base))
                    and (p_value is None or p_value < KEEP_P))
            judged.update(best_at=self.offset + best_at, base_return=float(np.mean(base)),
                          base_std=float(np.std(base)), p_value=p_value,
                          result="finetuned" if keep else "base")
            if self.spec.has_success:
                judged["base_success"] = float(np.mean(base_success))
        self.store.event("judged", **judged)
        return judged

    # -- checkpoints ---------------------------------------------------------------------------------------------
    def _actor_state(self) -> dict:
        import copy

        state = self.model.policy.state_dict()
        return copy.deepcopy({k: v for k, v in state.items()
                              if not self._is_off_policy or k.startswith(("actor.", "actor_target."))})

    def _load_actor_state(self, state: dict) -> None:
        self.model.policy.load_state_dict(state, strict=False)

    @property
    def _is_off_policy(self) -> bool:
        return self.config.algo in OFF_POLICY

    def _save_actor(self) -> None:
        import torch

        torch.save(self._actor_state(), self.store.root / "best.pt")

    def _restore_actor(self) -> None:
        self._load_actor_state(self._best_state())

    def _best_state(self) -> dict:
        """best.pt, when it holds this learner's actor (it is not signed: torch loads it weights-only)."""
        import torch

        path = self.store.root / "best.pt"
        try:
            state = torch.load(path, weights_only=True)
        except Exception as err:  # noqa: BLE001 - missing, not torch's, or a pickle weights_only refuses
            raise RunStoreError(f"{path} cannot be loaded ({type(err).__name__})",
                                "the run folder is damaged or was changed after the run") from None
        expected = self._actor_state()
        if not (isinstance(state, dict) and set(state) == set(expected) and all(
                isinstance(state[k], torch.Tensor) and state[k].shape == v.shape for k, v in expected.items())):
            raise RunStoreError(f"{path} does not hold this run's actor",
                                "the run folder is damaged or was changed after the run")
        return state

    def checkpoint(self) -> None:
        """The learner and its buffer (pickles, as SB3 writes them), signed with this user's secret."""
        root = self.store.root
        self.model.save(root / "checkpoint.zip")
        if self._is_off_policy:
            self.model.save_replay_buffer(root / "replay.pkl")
        state = dict(self.state, wall_time_s=round(self.state["wall_time_s"] + time.monotonic() - self.started, 2),
                     trained=self.trained, signatures=signatures(root))
        self.store.write_json("finetune_state.json", state)

    def _load(self) -> Any:
        root = self.store.root
        state = read_state(root)
        self.state.update({k: state[k] for k in self.state if k in state})
        if not self.state["best_returns"]:  # a checkpoint written before the state kept them: read once, here
            self.recorded = recorded_spread(root / "events.jsonl", self.offset + (self.state["best_at"] or 0),
                                            self.config.eval_episodes)
        cls = learner_class(self.config)
        with warnings.catch_warnings():  # SB3 warns that a saved NStepReplayBuffer's n_steps is "ignored": it is
            warnings.filterwarnings("ignore", message=r"`n_steps=\d+` is ignored")  # kept, in the buffer's kwargs
            model = cls.load(root / "checkpoint.zip", env=self.env, device="cpu")
        normed = any(type(m).__name__ == "LayerNorm" for m in model.policy.critic.modules())
        for name, said, holds in (("ramp", self.config.ramp, hasattr(model.policy.actor, "bound")),
                                  ("critic_norm", self.config.critic_norm, normed)):
            if bool(said) != holds:  # run.json is not signed; the pickle is
                raise RunStoreError(f"{root / 'run.json'}: its {name} ({said}) does not match the checkpoint's "
                                    "networks", "the run folder was changed after the run; start it again")
        arm(model, self.config)
        if self._is_off_policy and (root / "replay.pkl").exists():
            model.load_replay_buffer(root / "replay.pkl")
        drop_points_after(root, self.offset + int(model.num_timesteps))
        return model

    def save(self) -> None:
        self.model.save(self.store.root / "model.zip")

    def close(self) -> None:
        for closable in (self.env, self.eval_env, self.train_base):
            if closable is not None:
                closable.close()


def _paired_p(stats, tuned: list[float], base: list[float]) -> float | None:
    """One-sided paired t-test: is the fine-tuned policy better than the base on the same episodes?"""
    diff = np.asarray(tuned) - np.asarray(base)
    if len(diff) < 2 or np.allclose(diff, diff[0]):
        return None
    return float(stats.ttest_rel(tuned, base, alternative="greater").pvalue)


def train(config: FinetuneConfig, seed: int, progress=None, store: RunStore | None = None,
          finish: bool = False, ready=None) -> Path:
    """Train one seed (``store``: an interrupted run's folder to continue); returns its run folder. Ctrl-C stops
    training, keeps what was logged and checkpoints, so `promptpo resume` continues it. ``finish``: train no more
    (`promptpo resume --finish`): evaluate where it stopped, if it had not, and judge, as at the end. ``ready()``:
    called once the learner (or its checkpoint) is loaded and nothing more is refused."""
    resumed = store is not None
    store = store or start(config, seed)
    meta = json.loads((store.root / "run.json").read_text())
    try:
        finetuning = Finetuning(config, seed, store, resumed)
    except BaseException:
        if not resumed:  # nothing was recorded yet: no folder is left behind
            shutil.rmtree(store.root, ignore_errors=True)
        raise
    if finish and not finetuning.trained:
        finetuning.close()
        raise RunStoreError(f"{store.root.name} has trained no step yet: there is nothing to judge",
                            f"continue it with `promptpo resume {store.root.name}`")
    if ready is not None:
        ready()
    status, reason, judged = RunStatus.COMPLETED, "", None
    until, trained = (finetuning.trained if finish else config.steps), False
    try:
        with interrupt_on_signals():  # SIGTERM and SIGHUP end it as Ctrl-C does: checkpointed, resumable
            finetuning.run(progress, until)
            trained = True  # checkpointed after its last evaluation; the judgement loads the best actor into it
            judged = finetuning.judge()
            stop_if_signalled()  # a Ctrl-C lost in the judgement: interrupted (resumable), not completed
            if finish:  # recorded once it is done: a finish stopped before its end was no finish
                store.event("finish", training_env_steps=until, planned_steps=config.steps)
        if not config.residual:
            reason = f"budget spent: {config.steps} env steps"
        elif judged["result"] == "finetuned":
            reason = f"the fine-tuned policy beat the base on {judged['episodes']} fresh episodes"
        else:
            reason = (f"the base stays: the fine-tuned policy did not beat it beyond noise on {judged['episodes']} "
                      "fresh episodes")
        if finish:
            ended = f"ended at {until:,} of {config.steps:,} training steps (resume --finish)"
            reason = f"{ended}; {reason}" if config.residual else ended
        finetuning.save()
    except (KeyboardInterrupt, Interrupted) as stop:
        status = RunStatus.INTERRUPTED
        reason = stop.reason if isinstance(stop, Interrupted) else "stopped by the user (Ctrl-C)"
        if not trained:  # stopped in the judgement: the checkpoint holds the last actor, not the best one judged
            finetuning.checkpoint()
    except PolicyFailed as err:  # the base program crashed, hung or broke a limit in its sandbox
        status, reason = RunStatus.FAILED, f"the base program failed: {err}"
    except RunStoreError as err:  # a damaged folder (best.pt): said in one line, recorded as a stop, not an end
        status, reason = RunStatus.INTERRUPTED, f"stopped: {err}"
        raise
    finally:
        finetuning.close()
        store.write_json("summary.json", summary(config, meta, finetuning, status, reason, judged))
        store.event("run_end", status=status, reason=reason)
        meta.update(ended=now_iso(), status=status)
        store.write_json("run.json", meta)
    return store.root
