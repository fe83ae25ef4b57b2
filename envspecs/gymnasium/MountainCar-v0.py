"""Gymnasium MountainCar-v0: drive an under-powered car up a hill with discrete pushes."""

from promptpo.envs.gymnasium import gym_spec
from promptpo.envspec import ObsField

SPEC = gym_spec(
    "MountainCar-v0",
    title="MountainCar-v0 (classic control)",
    description=(
        "A car sits in a valley between two hills on a 1-D track. Its engine is too weak to drive straight "
        "up the right hill: it has to build momentum by rocking back and forth. The episode ends when the "
        "car reaches position >= 0.5 (the flag on the right hill) or after 200 steps. Reward is -1 per step, "
        "so faster is better. The start position is uniform in [-0.6, -0.4] with zero velocity."),
    observation=[
        ObsField("position", "obs[0]", "car position along the track; valley bottom near -0.52, goal at 0.5", "in [-1.2, 0.6]"),
        ObsField("velocity", "obs[1]", "car velocity, positive to the right", "in [-0.07, 0.07] per step"),
    ],
    action_meanings=("accelerate to the left", "do not accelerate", "accelerate to the right"),
    is_success=lambda info, reward, terminated: bool(terminated),
    success_criterion="An episode succeeds when the car reaches the flag (position >= 0.5) before the time limit.",
    source=__file__,
)
