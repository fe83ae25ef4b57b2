"""--actor-warmup: an off-policy residual's actor learns at a rate growing from 0 after the critic-only phase, from
a fresh Adam (the critic-only phase's zero-rate steps leave it no moments)."""

from __future__ import annotations

import pytest

from finetune.swing import config, refused_in_one_line
from promptpo.finetune.folder import start
from promptpo.finetune.train import Finetuning

PHASES = {"residual_scale": 1.0, "warmup": 200, "critic_steps": 200, "penalty": 0.0}
LR = 1e-3


def output_layer(model):
    return model.policy.actor.mu[-2].weight.detach().clone()


def actor_steps(model) -> int:
    """Adam's own count of the actor's steps (0 with no state)."""
    states = list(model.actor.optimizer.state.values())
    return int(states[0]["step"]) if states else 0


@pytest.mark.parametrize("warmup", [0, 400])
def test_the_actors_first_steps_are_as_small_as_its_warmed_up_rate(base_run, warmup):
    """Adam's first step moves each weight by about the learning rate whatever the gradient's size: without a
    warm-up the zeroed output layer's weights move by ~1e-3 each at once; warmed up over 400 steps, by the rate's
    fraction (at most 11/400 of it after 11 steps)."""
    cfg = config(base_run, steps=1000, actor_warmup=warmup, options={**config(base_run).options, "learning_rate": LR},
                 **PHASES)
    finetuning = Finetuning(cfg, 0, start(cfg, 0))
    try:
        model = finetuning.model
        model.learn(total_timesteps=399, reset_num_timesteps=False)  # warm-up and critic-only phase (the actor's first
        # step is at 400)
        held = output_layer(model)
        assert not held.abs().max() and model.actor.optimizer.param_groups[0]["lr"] == 0
        model.learn(total_timesteps=11, reset_num_timesteps=False)
        moved = float((output_layer(model) - held).abs().max())
        if warmup:
            assert 0 < moved <= LR * 11 / warmup * 6 * 1.01  # ≤ 6 actor steps (delay 2), each ≤ its fraction of LR
            assert actor_steps(model) <= 6  # a fresh Adam: the critic-only phase's ~100 zero-rate steps are gone
            model.learn(total_timesteps=189, reset_num_timesteps=False)
            assert model.actor.optimizer.param_groups[0]["lr"] == pytest.approx(LR * 200 / warmup, rel=0.01)
            model.learn(total_timesteps=300, reset_num_timesteps=False)
            assert model.actor.optimizer.param_groups[0]["lr"] == pytest.approx(LR)  # all of it after the warm-up
        else:
            assert moved > LR * 0.9  # the whole rate at once
            assert actor_steps(model) > 50  # Adam stepped (at rate 0) all through the critic-only phase
    finally:
        finetuning.close()


@pytest.mark.parametrize("args, message", [
    (["--actor-warmup", "-5"], "--actor-warmup must be at least 0"),
    (["--actor-warmup", "1000", "--algo", "ppo"], "--actor-warmup warms up an off-policy residual's actor"),
])
def test_a_bad_actor_warmup_is_one_clear_line(base_run, args, message):
    refused_in_one_line(base_run, args, message)
