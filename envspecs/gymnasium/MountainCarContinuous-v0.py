"""Gymnasium MountainCarContinuous-v0: the mountain car with a continuous engine force."""

from promptpo.envs.gymnasium import gym_spec
from promptpo.envspec import ObsField

SPEC = gym_spec(
    "MountainCarContinuous-v0",
    title="MountainCarContinuous-v0 (classic control)",
    description=(
        "A car sits in a valley between two hills on a 1-D track. Its engine is too weak to drive straight "
        "up the right hill: it has to build momentum by rocking back and forth. The action is the engine "
        "force. Reaching position >= 0.45 ends the episode with +100; every step costs 0.1 * action^2. "
        "The episode is cut off after 999 steps. The start position is uniform in [-0.6, -0.4]."),
    observation=[
        ObsField("position", "obs[0]", "car position along the track; valley bottom near -0.52, goal at 0.45", "in [-1.2, 0.6]"),
        ObsField("velocity", "obs[1]", "car velocity, positive to the right", "in [-0.07, 0.07] per step"),
    ],
    action_meanings=("engine force, positive pushes right",),
    is_success=lambda info, reward, terminated: bool(terminated),
    success_criterion="An episode succeeds when the car reaches the flag (position >= 0.45) before the time limit.",
    source=__file__,
)
