"""TD3's policy with a bounded actor, for a ramped residual (promptpo.finetune.learner.WarmStart sets the bound).

The actor (and its target) end in × ``bound``, a buffer in the weights, so SB3's save and load, best.pt and a
verifier's weights-only load all carry the bound the actor was scored with. Its own module, imported only where a
run ramps: SB3 pickles the policy class by reference, so it must be importable by name.
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.td3.policies import Actor, TD3Policy


class BoundedActor(Actor):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.register_buffer("bound", torch.tensor(1.0))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return super().forward(obs) * self.bound


class BoundedTD3Policy(TD3Policy):
    def make_actor(self, features_extractor: Any = None) -> Actor:
        return BoundedActor(**self._update_features_extractor(self.actor_kwargs, features_extractor)).to(self.device)
