"""MiniGrid Empty-8x8: walk to the goal square in an empty room."""

from promptpo.envs.minigrid import minigrid_spec

SPEC = minigrid_spec(
    "Empty-8x8",
    title="MiniGrid Empty-8x8",
    description=(
        "An 8x8 grid (6x6 walkable inside the outer wall) with no obstacles. The agent starts in the top-left "
        "corner facing right; the green goal square is in the bottom-right corner. Reach it in as few steps "
        "as possible. Reward on reaching the goal is 1 - 0.9 * (steps used / step limit), 0 otherwise."),
)
