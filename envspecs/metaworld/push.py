"""Meta-World MT1 push-v3: push a puck across the table to a goal position."""

from promptpo.envs.metaworld import metaworld_spec

SPEC = metaworld_spec(
    "push-v3",
    title="Meta-World push (Sawyer arm, MT1, 50 goal variations)",
    description=(
        "A Sawyer robot arm stands at a table with a puck on it. Move the puck to the goal position on the "
        "table (the puck may be pushed or grasped and slid). Puck and goal positions change between "
        "episodes and are given in the observation."),
    obj1="the puck to be moved",
)
