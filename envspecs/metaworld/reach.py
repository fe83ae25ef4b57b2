"""Meta-World MT1 reach-v3: move the gripper to a goal point in space."""

from promptpo.envs.metaworld import metaworld_spec

SPEC = metaworld_spec(
    "reach-v3",
    title="Meta-World reach (Sawyer arm, MT1, 50 goal variations)",
    description=(
        "A Sawyer robot arm stands at a table. Move the gripper (end effector) to a goal point in 3D "
        "space. The goal position changes between episodes and is given in the observation. A puck lies "
        "on the table; it does not matter for this task."),
    obj1="a puck on the table (irrelevant for reaching)",
)
