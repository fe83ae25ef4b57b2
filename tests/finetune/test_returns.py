"""--gamma and --n-step-returns: an off-policy residual's critic discounts less and learns from N-step returns."""

from __future__ import annotations

import pytest

from finetune.swing import config, refused_in_one_line
from promptpo.finetune.folder import start
from promptpo.finetune.train import Finetuning


def test_the_critic_discounts_and_sums_as_asked_and_a_resumed_run_still_does(base_run, recwarn):
    from stable_baselines3.common.buffers import NStepReplayBuffer

    from promptpo.finetune.policy import config_of
    from promptpo.records import RunFolder

    cfg = config(base_run, steps=600, gamma=0.995, n_step_returns=5)
    store = start(cfg, 0)
    finetuning = Finetuning(cfg, 0, store)
    try:
        model = finetuning.model
        assert model.gamma == 0.995 and isinstance(model.replay_buffer, NStepReplayBuffer)
        assert model.replay_buffer.n_steps == 5 and model.replay_buffer.gamma == 0.995
        finetuning.run(until=450)
        batch = model.replay_buffer.sample(64)
        assert batch.discounts is not None and float(batch.discounts.max()) == pytest.approx(0.995 ** 5, rel=1e-5)
        finetuning.checkpoint()
    finally:
        finetuning.close()
    read = config_of(RunFolder(store.root))
    assert (read.gamma, read.n_step_returns) == (0.995, 5)
    resumed = Finetuning(read, 0, store, resumed=True)
    try:
        assert resumed.model.gamma == 0.995 and isinstance(resumed.model.replay_buffer, NStepReplayBuffer)
        assert resumed.model.replay_buffer.n_steps == 5
        resumed.run(until=600)
    finally:
        resumed.close()
    assert not [w for w in recwarn if "is ignored" in str(w.message)]  # SB3's spurious warning on load


@pytest.mark.parametrize("args, message", [
    (["--gamma", "1.5"], "--gamma must be in (0, 1]"),
    (["--gamma", "nan"], "--gamma must be in (0, 1]"),
    (["--n-step-returns", "0"], "--n-step-returns must be at least 1"),
    (["--n-step-returns", "3", "--algo", "ppo"], "--gamma and --n-step-returns set an off-policy learner's critic"),
])
def test_a_bad_discount_or_n_is_one_clear_line(base_run, args, message):
    refused_in_one_line(base_run, args, message)
