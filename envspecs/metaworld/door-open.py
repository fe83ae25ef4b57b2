"""Meta-World MT1 door-open-v3: pull a hinged door open by its handle."""

from promptpo.envs.metaworld import metaworld_spec

SPEC = metaworld_spec(
    "door-open-v3",
    title="Meta-World door-open (Sawyer arm, MT1, 50 goal variations)",
    description=(
        "A Sawyer robot arm faces a small cabinet with a hinged door. Open the door by moving its handle "
        "until the handle's x coordinate is close to the goal's x coordinate. The door swings around a "
        "vertical hinge, so the handle moves along an arc. The cabinet position changes between episodes."),
    obj1="the door handle",
)
