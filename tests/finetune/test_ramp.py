"""--ramp: a TD3 residual whose largest correction grows after the critic-only phase, the bound kept in the weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from finetune.swing import config, refused_in_one_line
from promptpo.finetune.learner import RAMP_START
from promptpo.finetune.folder import start
from promptpo.finetune.train import Finetuning, train

RAMPED = {"residual_scale": 1.0, "warmup": 200, "critic_steps": 200, "ramp": 400, "penalty": 0.0}


def largest_correction(model, size: int) -> float:
    """The actor's largest |r| on wide random inputs, its pre-bound tanh pushed to saturation."""
    features = np.random.default_rng(1).normal(size=(512, size)).astype(np.float32) * 50
    r, _ = model.predict(features, deterministic=True)
    return float(np.abs(r).max())


def test_the_bound_holds_through_the_critic_phase_then_grows_to_the_whole_scale(base_run):
    cfg = config(base_run, steps=1000, **RAMPED)
    finetuning = Finetuning(cfg, 0, start(cfg, 0))
    size = finetuning.env.observation_space.shape[0]
    try:
        combined, _ = finetuning.evaluate()
        alone, _, _ = finetuning.play(finetuning.episodes, with_learner=False)
        assert combined == alone  # step 0 is the base, ramped or not
        seen = []
        for steps in (400, 200, 200, 200):
            finetuning.model.learn(total_timesteps=steps, reset_num_timesteps=False)
            policy = finetuning.model.policy
            seen.append((float(policy.actor.bound), float(policy.actor_target.bound)))
            assert largest_correction(finetuning.model, size) <= seen[-1][0] + 1e-6
        expected = [RAMP_START, RAMP_START + (1 - RAMP_START) * 0.5, 1.0, 1.0]  # steps 400, 600, 800, 1000
        assert [a for a, _ in seen] == pytest.approx(expected, abs=(1 - RAMP_START) / 400 + 1e-6)
        assert all(a == t for a, t in seen)  # the critic's targets use the same bound as the actor
        assert largest_correction(finetuning.model, size) > RAMP_START  # the grown bound is used
    finally:
        finetuning.close()


def test_a_judged_resumed_or_loaded_actor_keeps_the_bound_it_was_scored_with(base_run, monkeypatch):
    """best.pt, the checkpoint and model.zip carry the bound: the judgement plays the best actor with the bound of its
    evaluation (not the last one), model.zip (loaded weights only, as load_policy and verify do) holds it, and a
    resumed learner continues with its own."""
    from promptpo.finetune import train as training
    from promptpo.finetune.policy import config_of, weights_only
    from promptpo.finetune.residual import Correction
    from promptpo.records import RunFolder

    cfg = config(base_run, steps=1000, eval_points=5, rollback=1e9, **dict(RAMPED, ramp=2000))
    bounds = {}

    def scored(self, episodes=None):  # the best evaluation is the one at 600 steps, whatever the policy plays
        bounds[self.trained] = float(self.model.policy.actor.bound)
        return [-100.0 - abs(self.trained - 600)] * 2, [False] * 2

    monkeypatch.setattr(Finetuning, "evaluate", scored)
    judged_with = {}
    judge = Finetuning.judge

    def judging(self):
        judged = judge(self)
        judged_with["bound"] = float(self.model.policy.actor.bound)
        return judged

    monkeypatch.setattr(Finetuning, "judge", judging)
    folder = train(cfg, 3)
    growth = (1 - RAMP_START) / 2000
    assert bounds[400] == pytest.approx(RAMP_START) and bounds[1000] == pytest.approx(RAMP_START + 600 * growth, abs=0.01)
    assert judged_with["bound"] == pytest.approx(bounds[600]) != pytest.approx(bounds[1000])
    loaded = RunFolder(folder)
    model = weights_only(config_of(loaded), Correction.of(training.load_spec(cfg.env), cfg), folder / "model.zip", 0)
    assert float(model.policy.actor.bound) == pytest.approx(bounds[600])

    stopped = config(base_run, steps=1000, eval_points=5, rollback=1e9, **RAMPED)
    store = start(stopped, 4)
    finetuning = Finetuning(stopped, 4, store)
    try:
        finetuning.run(until=600)
        held = {k: v.clone() for k, v in finetuning.model.policy.state_dict().items() if k.endswith("bound")}
        finetuning.checkpoint()
    finally:
        finetuning.close()
    resumed = training.Finetuning(stopped, 4, store, resumed=True)
    try:
        assert type(resumed.model.policy.actor).__name__ == "BoundedActor"
        for key, value in resumed.model.policy.state_dict().items():
            if key.endswith("bound"):
                assert torch.equal(value, held[key])
        resumed.run(until=800)
        assert float(resumed.model.policy.actor.bound) == pytest.approx(1.0, abs=0.01)
    finally:
        resumed.close()


@pytest.mark.parametrize("args, message", [
    (["--ramp", "-1"], "--ramp must be at least 0"),
    (["--ramp", "1000", "--algo", "sac"], "--ramp bounds a TD3 residual's actor"),
])
def test_a_bad_ramp_is_one_clear_line(base_run, args, message):
    refused_in_one_line(base_run, args, message)
