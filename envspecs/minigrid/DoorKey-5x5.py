"""MiniGrid DoorKey-5x5: pick up the key, unlock the door, reach the goal."""

from promptpo.envs.minigrid import minigrid_spec

SPEC = minigrid_spec(
    "DoorKey-5x5",
    title="MiniGrid DoorKey-5x5",
    description=(
        "A 5x5 grid (3x3 walkable inside the outer wall) split by a wall with one locked door. The agent "
        "starts on the left side with a key somewhere on that side; the green goal square is on the right "
        "side. Pick up the key (face it and use 'pickup'), face the locked door and use 'toggle' to unlock "
        "and open it, walk through and step onto the goal. Layout, key and door position change every "
        "episode. Reward on reaching the goal is 1 - 0.9 * (steps used / step limit), 0 otherwise."),
)
