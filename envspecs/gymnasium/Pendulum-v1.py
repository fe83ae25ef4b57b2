"""Gymnasium Pendulum-v1: swing a pendulum up and hold it upright with limited torque."""

import numpy as np

from promptpo.envs.gymnasium import gym_spec
from promptpo.envspec import ObsField, Target

SPEC = gym_spec(
    "Pendulum-v1",
    title="Pendulum-v1 (classic control)",
    description=(
        "A pendulum hangs from a fixed pivot and starts at a random angle and angular velocity. Apply torque "
        "at the pivot to swing it up and keep it upright (angle 0). The torque is too weak to lift it "
        "directly from hanging down: it must swing up. Episodes last 200 steps and never end early. "
        "Reward per step is -(theta^2 + 0.1 * theta_dot^2 + 0.001 * torque^2), theta normalised to [-pi, pi]."),
    observation=[
        ObsField("cos_theta", "obs[0]", "cosine of the pendulum angle (1 = upright)", "unitless"),
        ObsField("sin_theta", "obs[1]", "sine of the pendulum angle", "unitless"),
        ObsField("theta_dot", "obs[2]", "angular velocity, positive counter-clockwise", "rad/s in [-8, 8]"),
    ],
    action_meanings=("torque at the pivot, positive counter-clockwise",),
    # Gymnasium registers no reward threshold for Pendulum; -200 is the level commonly called solved.
    target=Target("mean_return", -200.0),
    derived=lambda obs: {"theta": float(np.arctan2(obs[1], obs[0]))},
    derived_doc="theta = atan2(sin_theta, cos_theta), 0 is upright (rad)",
    notes="Gymnasium registers no reward threshold for Pendulum-v1; promptpo's default target is a mean return of -200.",
    source=__file__,
)
