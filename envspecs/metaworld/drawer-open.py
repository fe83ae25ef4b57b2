"""Meta-World MT1 drawer-open-v3: pull a drawer open by its handle."""

from promptpo.envs.metaworld import metaworld_spec

SPEC = metaworld_spec(
    "drawer-open-v3",
    title="Meta-World drawer-open (Sawyer arm, MT1, 50 goal variations)",
    description=(
        "A Sawyer robot arm faces a chest with a drawer. Pull the drawer open: hook or grasp the drawer "
        "handle and move it towards the robot (negative y) until the handle reaches the goal. The chest "
        "position changes between episodes."),
    obj1="the drawer handle",
)
