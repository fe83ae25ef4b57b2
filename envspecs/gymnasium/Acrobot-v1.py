"""Gymnasium Acrobot-v1: swing a two-link pendulum's tip above a line by torquing the middle joint."""

import numpy as np

from promptpo.envs.gymnasium import gym_spec
from promptpo.envspec import ObsField

SPEC = gym_spec(
    "Acrobot-v1",
    title="Acrobot-v1 (classic control)",
    description=(
        "Two links hang in a chain from a fixed pivot; only the joint between them is actuated. Swing the "
        "free end up so that its height -cos(theta1) - cos(theta1 + theta2) exceeds 1.0 (one link length "
        "above the pivot). theta1 is the first link's angle from hanging straight down; theta2 is the second "
        "link's angle relative to the first. Reward is -1 per step until the goal is reached; the episode "
        "is cut off after 500 steps."),
    observation=[
        ObsField("cos_theta1", "obs[0]", "cosine of the first link's angle (1 = hanging down)", "unitless"),
        ObsField("sin_theta1", "obs[1]", "sine of the first link's angle", "unitless"),
        ObsField("cos_theta2", "obs[2]", "cosine of the second link's angle relative to the first", "unitless"),
        ObsField("sin_theta2", "obs[3]", "sine of the second link's relative angle", "unitless"),
        ObsField("theta1_dot", "obs[4]", "angular velocity of the first link", "rad/s in [-4pi, 4pi]"),
        ObsField("theta2_dot", "obs[5]", "angular velocity of the second joint", "rad/s in [-9pi, 9pi]"),
    ],
    action_meanings=("torque -1 on the middle joint", "no torque", "torque +1 on the middle joint"),
    is_success=lambda info, reward, terminated: bool(terminated),
    success_criterion="An episode succeeds when the tip rises above the line before the time limit.",
    derived=lambda obs: {"tip_height": float(-obs[0] - (obs[0] * obs[2] - obs[1] * obs[3]))},
    derived_doc="tip_height = -cos(theta1) - cos(theta1 + theta2); the goal is > 1.0",
    source=__file__,
)
