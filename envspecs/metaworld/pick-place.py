"""Meta-World MT1 pick-place-v3: grasp a puck and place it at a goal point in the air."""

from promptpo.envs.metaworld import metaworld_spec

SPEC = metaworld_spec(
    "pick-place-v3",
    title="Meta-World pick-place (Sawyer arm, MT1, 50 goal variations)",
    description=(
        "A Sawyer robot arm stands at a table with a puck on it. Grasp the puck and carry it to the goal "
        "position, which is usually above the table. Close the gripper (action[3] > 0) around the puck to "
        "hold it; open it (action[3] < 0) before approaching. Puck and goal positions change between "
        "episodes and are given in the observation."),
    obj1="the puck to pick up",
)
