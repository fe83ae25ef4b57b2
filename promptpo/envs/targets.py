"""What counts as solving an environment, for the views and baselines that compare runs: Meta-World and MiniGrid
by success rate, Gymnasium by its registered reward threshold; and the worst return an episode can score."""

from __future__ import annotations

from promptpo.envspec import Target

SUCCESS_FAMILIES = ("metaworld", "minigrid")
SUCCESS_TARGET = 0.9
# The worst return an episode can score (time limit x worst reward per step), used to normalize
# returns into (0, 1] for HyperScore; envs not listed use the lowest return seen in the comparison.
RETURN_FLOOR = {"gymnasium/CartPole-v1": 0.0, "gymnasium/MountainCar-v0": -200.0, "gymnasium/Acrobot-v1": -500.0,
                "gymnasium/MountainCarContinuous-v0": -99.9, "gymnasium/Pendulum-v1": -16.2736 * 200}


def target_for(env: str) -> Target | None:
    """Meta-World and MiniGrid: success rate >= 0.9; Gymnasium: the registered reward threshold."""
    if env.split("/")[0] in SUCCESS_FAMILIES:
        return Target("success_rate", SUCCESS_TARGET)
    from promptpo.envs import load_spec

    spec = load_spec(env)
    return spec.target if spec.target and spec.target.metric == "mean_return" else None
