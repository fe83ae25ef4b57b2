"""Gymnasium CartPole-v1: balance a pole on a cart by pushing the cart left or right."""

from promptpo.envs.gymnasium import gym_spec
from promptpo.envspec import ObsField

SPEC = gym_spec(
    "CartPole-v1",
    title="CartPole-v1 (classic control)",
    description=(
        "A pole is attached by an unactuated joint to a cart that moves along a frictionless track. "
        "Each step, push the cart left or right with a fixed force. Keep the pole upright: the episode "
        "ends when the pole tilts more than 12 degrees (0.2095 rad) from vertical, when the cart leaves "
        "the track (|x| > 2.4), or after 500 steps. Reward is +1 for every step survived."),
    observation=[
        ObsField("cart_position", "obs[0]", "cart position on the track, 0 is the centre", "m (episode ends beyond +-2.4)"),
        ObsField("cart_velocity", "obs[1]", "cart velocity, positive to the right", "m/s"),
        ObsField("pole_angle", "obs[2]", "pole angle from vertical, positive leaning right", "rad (episode ends beyond +-0.2095)"),
        ObsField("pole_angular_velocity", "obs[3]", "pole angular velocity, positive rotating right", "rad/s"),
    ],
    action_meanings=("push cart to the left", "push cart to the right"),
    source=__file__,
)
