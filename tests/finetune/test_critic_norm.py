"""--critic-norm: a TD3 residual whose twin Q-networks normalize each hidden layer (LayerNorm)."""

from __future__ import annotations

import pytest
import torch

from finetune.swing import config, refused_in_one_line
from promptpo.finetune.folder import start
from promptpo.finetune.train import Finetuning

NORMED = {"residual_scale": 1.0, "warmup": 200, "critic_steps": 200, "penalty": 0.1, "critic_norm": True}


def layer_norms(module) -> list:
    return [m for m in module.modules() if isinstance(m, torch.nn.LayerNorm)]


@pytest.mark.parametrize("ramp", [0, 400])
def test_the_normed_critic_learns_resumes_and_keeps_the_residual_at_zero_first(base_run, ramp):
    """Both Q-networks (and their targets) hold a LayerNorm per hidden layer, which the critic's optimizer trains;
    the penalty's Q is the normed one; step 0 is still the base; a checkpoint resumes with the same critic."""
    cfg = config(base_run, steps=800, ramp=ramp, **NORMED)
    store = start(cfg, 0)
    finetuning = Finetuning(cfg, 0, store)
    try:
        combined, _ = finetuning.evaluate()
        alone, _, _ = finetuning.play(finetuning.episodes, with_learner=False)
        assert combined == alone
        policy = finetuning.model.policy
        hidden = len(cfg.options["policy_kwargs"]["net_arch"])
        for critic in (policy.critic, policy.critic_target):
            assert len(layer_norms(critic)) == 2 * hidden  # each of the twin Q-networks
        assert layer_norms(policy.critic.q_networks[0])[0] in layer_norms(policy.critic.qf0)
        trained = {id(p) for group in policy.critic.optimizer.param_groups for p in group["params"]}
        assert all(id(p) in trained for n in layer_norms(policy.critic) for p in n.parameters())
        before = layer_norms(policy.critic)[0].weight.detach().clone()
        finetuning.run(until=600)
        assert not torch.equal(before, layer_norms(policy.critic)[0].weight)  # the norm's gain learned
        assert hasattr(policy.actor, "bound") == bool(ramp)
        finetuning.checkpoint()
        held = {k: v.clone() for k, v in policy.critic.state_dict().items()}
    finally:
        finetuning.close()
    from promptpo.finetune.policy import config_of
    from promptpo.records import RunFolder

    assert config_of(RunFolder(store.root)).critic_norm is True  # what `promptpo resume` reads back from run.json
    resumed = Finetuning(cfg, 0, store, resumed=True)
    try:
        critic = resumed.model.policy.critic
        assert len(layer_norms(critic)) == 2 * hidden
        assert all(torch.equal(v, held[k]) for k, v in critic.state_dict().items())
        resumed.run(until=800)
    finally:
        resumed.close()


def test_a_bad_critic_norm_is_one_clear_line(base_run):
    refused_in_one_line(base_run, ["--critic-norm", "--algo", "sac"],
                        "--critic-norm normalizes a TD3 residual's critic")
