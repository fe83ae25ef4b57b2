"""Meta-World MT1 button-press-v3: press a button on a box face-on."""

from promptpo.envs.metaworld import metaworld_spec

SPEC = metaworld_spec(
    "button-press-v3",
    title="Meta-World button-press (Sawyer arm, MT1, 50 goal variations)",
    description=(
        "A Sawyer robot arm faces a box with a button on its front face. Press the button in (along +y, "
        "away from the robot) until it reaches the goal depth. The box position changes between episodes."),
    obj1="the button (a point in front of it)",
)
