"""The Stable-Baselines3 / sb3-contrib learners, started so that they do not unlearn the base.

A naive residual falls from the base's score within a few thousand steps (measured on Hopper-v5: SAC at scale 0.3
fell from 2,327 to 617 at 10k steps): SB3's off-policy learners play uniformly random actions until
``learning_starts`` and their actor follows an untrained critic from the first update. For a residual, this module:

- sets the output layer of every actor to zero, so r = 0 and the policy is the base at step 0 (SAC/TQC also start
  their log-std small: ``noise``);
- (off-policy) fills the buffer with the base's own transitions under a small Gaussian correction during the warm-up
  instead of uniform actions, then trains the critic alone (the actor's learning rate held at 0) for
  ``critic_steps``, so the actor's first gradient comes from a critic that has seen the base;
- (TD3) explores with Gaussian noise of the same small size; (SAC/TQC) starts the entropy coefficient at 0.01;
- (``actor_warmup``) grows the actor's learning rate from 0 after the critic-only phase;
- (TD3, ``critic_norm``) normalizes each hidden layer of the critic (promptpo.finetune.networks.NormedCritic);
- (TD3, ``ramp``) bounds the actor's output by b · tanh, b growing from RAMP_START to 1 over ``ramp`` steps after the
  critic-only phase, so the actor's first steps cannot make a correction the critic has not seen.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from promptpo.finetune.config import OFF_POLICY, SCRATCH, ZOO_TQC_DROP, FinetuneConfig

RAMP_START = 0.1
"""A ramped actor's first bound, as a fraction of --residual-scale: 0.1 of the half-range held both programs
(benchmarks/residual.py) where the whole range at once threw them away within 5k actor steps."""


def algorithm_class(algo: str) -> type:
    if algo in ("tqc", "ars"):
        import sb3_contrib

        return getattr(sb3_contrib, algo.upper())
    import stable_baselines3

    return getattr(stable_baselines3, algo.upper())


def learner_class(config: FinetuneConfig) -> type:
    """The algorithm's class; for an off-policy residual, with the warm start mixed in."""
    cls = algorithm_class(config.algo)
    if config.residual and config.algo in OFF_POLICY:
        extra = {}
        if config.ramp or config.critic_norm:  # a ramped TD3's actor ends in × bound; a normed critic, LayerNorms
            from promptpo.finetune.networks import policy_class

            extra = {"policy_aliases": {**cls.policy_aliases,
                                        "MlpPolicy": policy_class(bool(config.ramp), config.critic_norm)}}
        name = f"Residual{cls.__name__}{'Ramped' if config.ramp else ''}{'Normed' if config.critic_norm else ''}"
        return type(name, (WarmStart, cls), extra)
    return cls


class WarmStart:
    """Mixed into an off-policy SB3 algorithm: the warm-up plays the base with a small Gaussian correction (not
    uniform actions), and the actor does not learn before ``critic_until`` env steps."""

    warm_noise: float = 0.05
    critic_until: int = 0
    ramp: int = 0
    actor_warmup: int = 0

    def bound_now(self) -> float:
        """A ramped actor's bound at this step: RAMP_START until the critic-only phase ends, then up to 1."""
        if not self.ramp:
            return 1.0
        done = min(1.0, max(0.0, (self.num_timesteps - self.critic_until) / self.ramp))
        return RAMP_START + (1.0 - RAMP_START) * done

    def _set_bound(self) -> None:
        if self.ramp:
            for actor in (self.actor, self.actor_target):
                actor.bound.fill_(self.bound_now())

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1):
        self._set_bound()
        if self.num_timesteps < learning_starts:
            shape = (n_envs, *self.action_space.shape)
            r = np.clip(self.warm_noise * np.random.standard_normal(shape), -1.0, 1.0).astype(np.float32)
            return r, r
        return super()._sample_action(learning_starts, action_noise, n_envs)

    def actor_lr_fraction(self) -> float:
        """The part of the learner's learning rate the actor gets now: none in the critic-only phase, then all of it,
        or (``actor_warmup``) a part growing linearly to all of it."""
        if self.num_timesteps < self.critic_until:
            return 0.0
        if not self.actor_warmup:
            return 1.0
        return min(1.0, (self.num_timesteps - self.critic_until + 1) / self.actor_warmup)

    def _update_learning_rate(self, optimizers: Any) -> None:  # where each train() starts
        self._set_bound()
        super()._update_learning_rate(optimizers)
        fraction = self.actor_lr_fraction()
        for group in self.actor.optimizer.param_groups:
            group["lr"] *= fraction
        if fraction == 0.0 and self.actor_warmup:  # the critic-only phase's (zero-lr) steps leave Adam no moments
            self.actor.optimizer.state.clear()


def model_kwargs(config: FinetuneConfig, spec_id: str, action_size: int) -> dict:
    """The learner's constructor arguments: the Zoo's for a learner from scratch; for a residual, the warm start's."""
    kwargs: dict[str, Any] = {}
    policy_kwargs: dict[str, Any] = {}
    algo = config.algo
    if config.residual:
        if algo in OFF_POLICY:
            kwargs["learning_starts"] = config.warmup
        if algo in ("sac", "tqc"):
            kwargs["ent_coef"] = "auto_0.01"
        if algo == "td3":
            kwargs["action_noise"] = config.noise
        if algo == "ppo":
            policy_kwargs["log_std_init"] = math.log(config.noise * 2)
    else:
        zoo = dict(SCRATCH.get(algo, {}))
        if "net_arch" in zoo:
            policy_kwargs["net_arch"] = zoo.pop("net_arch")
        if "noise_std" in zoo:
            kwargs["action_noise"] = zoo.pop("noise_std")
        kwargs.update(zoo)
        name = spec_id.split("/")[-1]
        if algo == "tqc" and name in ZOO_TQC_DROP:
            kwargs["top_quantiles_to_drop_per_net"] = ZOO_TQC_DROP[name]
    if config.gamma is not None:
        kwargs["gamma"] = config.gamma
    if config.n_step_returns > 1:
        kwargs["n_steps"] = config.n_step_returns  # off-policy SB3: NStepReplayBuffer
    options = dict(config.options)
    policy_kwargs.update(options.pop("policy_kwargs", {}) or {})
    kwargs.update(options)
    if "action_noise" in kwargs and not hasattr(kwargs["action_noise"], "reset"):
        from stable_baselines3.common.noise import NormalActionNoise

        std = float(kwargs["action_noise"])
        kwargs["action_noise"] = NormalActionNoise(np.zeros(action_size), std * np.ones(action_size))
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


def make_model(config: FinetuneConfig, env: Any, seed: int, spec_id: str) -> Any:
    """A new learner on ``env``; a residual one outputs exactly zero until it learns."""
    cls = learner_class(config)
    policy = "LinearPolicy" if config.algo == "ars" else "MlpPolicy"
    model = cls(policy, env, seed=seed, device="cpu", verbose=0,
                **model_kwargs(config, spec_id, int(np.prod(env.action_space.shape))))
    if config.residual:
        start_at_zero(model, config)
    return model


def arm(model: Any, config: FinetuneConfig) -> None:
    """The warm start's settings on ``model`` (a new one, or one loaded from a checkpoint)."""
    if isinstance(model, WarmStart):
        model.warm_noise = config.noise
        model.critic_until = config.warmup + config.critic_steps
        model.ramp = config.ramp
        model.actor_warmup = config.actor_warmup
    if config.residual and config.algo == "td3" and config.penalty > 0:
        penalize(model.critic, config.penalty)


def penalize(critic: Any, weight: float) -> None:
    """TD3's actor maximizes ``critic.q1_forward`` (and nothing else calls it): here Q less ``weight`` × mean |Q| ×
    mean r², so the correction grows only where the critic's gain outweighs it."""
    plain = type(critic).q1_forward.__get__(critic)

    def q1_forward(observations, actions):
        q = plain(observations, actions)
        return q - weight * q.detach().abs().mean() * (actions ** 2).mean(dim=1, keepdim=True)

    critic.q1_forward = q1_forward


def start_at_zero(model: Any, config: FinetuneConfig) -> None:
    """The actor's output layer at zero (r = 0 whatever the input), so the combined policy is the base."""
    import torch

    arm(model, config)
    policy = model.policy
    with torch.no_grad():
        if config.algo == "td3":
            for actor in (policy.actor, policy.actor_target):
                last = actor.mu[-2]
                last.weight.zero_()
                last.bias.zero_()
        elif config.algo in ("sac", "tqc"):
            actor = policy.actor
            actor.mu.weight.zero_()
            actor.mu.bias.zero_()
            actor.log_std.weight.zero_()
            actor.log_std.bias.fill_(math.log(config.noise))
        elif config.algo == "ppo":
            policy.action_net.weight.zero_()
            policy.action_net.bias.zero_()
        elif config.algo == "ars":  # zero_policy=True (sb3-contrib's default) already starts at zero
            for parameter in policy.action_net.parameters():
                parameter.zero_()
