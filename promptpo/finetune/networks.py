"""TD3's networks for a residual: an actor with a bound (--ramp) and a critic with layer normalization
(--critic-norm); promptpo.finetune.learner.WarmStart sets the bound.

The actor (and its target) end in × ``bound``, a buffer in the weights, so SB3's save and load, best.pt and a
verifier's weights-only load all carry the bound the actor was scored with. The normalized critic puts a LayerNorm
after each hidden layer of both Q-networks (as RLPD, ResFiT and DAWN do for a residual's critic: without it the
critic's value of a small correction is lost beside its value of the state). A module of its own: SB3 pickles the
policy class by reference, so each must be importable by name.
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.td3.policies import Actor, TD3Policy
from torch import nn


class BoundedActor(Actor):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.register_buffer("bound", torch.tensor(1.0))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return super().forward(obs) * self.bound


class NormedCritic(ContinuousCritic):
    """SB3's twin Q-networks, each hidden Linear followed by LayerNorm before its activation."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for index, plain in enumerate(self.q_networks):
            layers: list[nn.Module] = []
            for layer in plain:
                layers.append(layer)
                if isinstance(layer, nn.Linear) and layer is not plain[-1]:
                    layers.append(nn.LayerNorm(layer.out_features))
            normed = nn.Sequential(*layers)
            self.add_module(f"qf{index}", normed)
            self.q_networks[index] = normed


class BoundedTD3Policy(TD3Policy):
    def make_actor(self, features_extractor: Any = None) -> Actor:
        return BoundedActor(**self._update_features_extractor(self.actor_kwargs, features_extractor)).to(self.device)


class NormedTD3Policy(TD3Policy):
    def make_critic(self, features_extractor: Any = None) -> ContinuousCritic:
        return NormedCritic(**self._update_features_extractor(self.critic_kwargs, features_extractor)).to(self.device)


class BoundedNormedTD3Policy(BoundedTD3Policy, NormedTD3Policy):
    """Both: a ramped actor and a normalized critic."""


def policy_class(ramp: bool, critic_norm: bool) -> type | None:
    """The TD3 policy class for these settings (None: SB3's own)."""
    return {(True, False): BoundedTD3Policy, (False, True): NormedTD3Policy,
            (True, True): BoundedNormedTD3Policy}.get((ramp, critic_norm))
