"""Automatic environment descriptions: the reward code as it runs with its helpers, observation parts named from
the environment itself, measured object slots, cleaned docstrings, and the `promptpo prompt` preview."""

from __future__ import annotations

import ast
import re

import pytest
from conftest import run_cli

from promptpo.policy.config import OptimizeConfig
from promptpo.envs import load_spec
from promptpo.envs.metaworld import known_tasks
from promptpo.llm import tokens
from promptpo.policy.task import policy_prompts

MAX_FIRST_PROMPT_TOKENS = 8000
"""A round-0 prompt stays well inside the default prompt budget (12,000 tokens), leaving room for history."""

GYMNASIUM = ("CartPole-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1", "Pendulum-v1",
             "Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5", "Swimmer-v5", "Reacher-v5",
             "InvertedPendulum-v5", "InvertedDoublePendulum-v5", "Pusher-v5", "Humanoid-v5")


def first_prompt(env: str, slot: int = 0) -> str:
    messages = policy_prompts(OptimizeConfig(env=env), load_spec(env)).first(slot).messages
    return "\n".join(m.content for m in messages)


def decided_branches(source: str) -> list[str]:
    """``if`` tests on the construction-time setting left in the source (there should be none)."""
    return [ast.unparse(node.test) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.If) and "reward_function_version" in ast.unparse(node.test)]


def check_spec(env: str) -> None:
    spec = load_spec(env)
    assert all(f.name and f.meaning for f in spec.observation), env
    assert not any(f.meaning.startswith("element ") for f in spec.observation), f"{env}: an unnamed element"
    assert not decided_branches(spec.reward_source), env  # only the live branch; parses as Python
    size = tokens.count(first_prompt(env))
    assert size < MAX_FIRST_PROMPT_TOKENS, f"{env}: round-0 prompt of {size} tokens"


def test_every_meta_world_task_gets_a_complete_spec():
    tasks = known_tasks()
    assert len(tasks) == 50
    for task in tasks:
        check_spec(f"metaworld/{task}")
        spec = load_spec(f"metaworld/{task}")
        source = spec.reward_source
        assert re.search(r"^def evaluate_state", source, re.M) and re.search(r"^def compute_reward", source, re.M)
        what = spec.description.split("\n\n")[0]  # the task's own words, not a class changelog or its id
        assert len(what) > 40 and f"{task}-v3" not in what, task
        assert not re.search(r"changelog|updates Sawyer|max_path_length|Motivation for", spec.description, re.I), task
        fields = {f.name: f for f in spec.observation}
        assert "task's main object" not in fields["obj1_pos"].meaning, task  # named per task
        assert re.search(r"measured 0\.\d\d when closed on nothing", fields["gripper_open"].meaning), task
        assert re.search(r"the hand is kept within x in \[.*z in \[", spec.description), task  # its box
        assert re.search(r"no lower than z = 0\.0\d\d", spec.description), task  # the height it really reaches


@pytest.mark.parametrize("gym_id", GYMNASIUM)
def test_gymnasium_specs_name_every_observation_part(gym_id):
    check_spec(f"gymnasium/{gym_id}")


def test_hopper_names_its_observation_and_shows_the_reward_helper():
    spec = load_spec("gymnasium/Hopper-v5")
    first = spec.observation[0]
    assert first.index == "obs[0]" and "torso" in first.meaning and "height" in first.meaning and first.units == "m"
    assert spec.observation[8].name == "thigh_joint_vel" and spec.observation[8].units == "rad/s"
    assert re.search(r"^def _get_rew", spec.reward_source, re.M)  # step() calls it: it is shown
    assert re.search(r"def is_healthy", spec.reward_source)  # the property that ends episodes
    assert re.search(r"self\._healthy_z_range = \(0\.7, inf\)", spec.reward_source)  # the value it reads
    assert "thigh rotor" in spec.action.meanings[0]
    for dropped in ("## Version History", "## Arguments", "<p", "```{figure}"):
        assert dropped not in spec.description
    for kept in ("## Description", "## Rewards", "## Episode End"):
        assert kept in spec.description


def test_pick_place_shows_its_reward_helpers_and_no_dead_branch():
    source = load_spec("metaworld/pick-place").reward_source
    for helper in ("_gripper_caging_reward", "tolerance", "hamacher_product"):
        assert re.search(rf"^def {helper}\(", source, re.M), helper
    assert "isV2" not in source and not decided_branches(source)
    basketball = load_spec("metaworld/basketball").reward_source
    assert re.search(r"#\s+self\.TARGET_RADIUS = 0\.\d+", basketball)  # a constant the reward reads, with its value
    door = load_spec("metaworld/door-open").reward_source
    assert re.search(r"^def _reward_pos", door, re.M) and re.search(r"^def _reward_grab_effort", door, re.M)


def test_object_slots_are_measured_per_task():
    stick = {f.name: f for f in load_spec("metaworld/stick-pull").observation}
    assert "unused" not in stick["obj2_pos"].meaning and stick["obj2_pos"].digest
    reach = {f.name: f for f in load_spec("metaworld/reach").observation}
    assert "zeros" in reach["obj2_pos"].meaning and not reach["obj2_pos"].digest  # not repeated in every digest
    window = {f.name: f for f in load_spec("metaworld/window-close").observation}
    assert "zeros" in window["obj1_quat"].meaning and not window["obj1_quat"].digest


def test_round_zero_candidates_get_distinct_prompts():
    first, second = first_prompt("metaworld/reach", 0), first_prompt("metaworld/reach", 1)
    assert first != second and "candidate 2 of 4" in second and "distinct approach" in second


def test_prompt_command_prints_the_prompt_its_size_and_cost():
    shown = run_cli("prompt", "gymnasium/Hopper-v5", "--model", "gpt-4o")
    assert shown.returncode == 0, shown.stderr
    assert "===== system =====" in shown.stdout and "def _get_rew" in shown.stdout
    assert shown.stdout.count("===== user =====") == 1
    tokens_line = re.search(r"([\d,]+) prompt tokens", shown.stderr)
    assert tokens_line and int(tokens_line.group(1).replace(",", "")) > 1000
    assert re.search(r"\$\d+\.\d\d-\$\d+\.\d\d", shown.stderr)  # gpt-4o is in litellm's price table
    unpriced = run_cli("prompt", "gymnasium/CartPole-v1", "--model", "nobody/unknown-model")
    assert unpriced.returncode == 0 and "no cost estimate" in unpriced.stderr
    spec_only = run_cli("prompt", "metaworld/reach", "--show-spec")
    assert spec_only.returncode == 0 and "## Observation" in spec_only.stdout and "skeleton" not in spec_only.stdout
    bad = run_cli("prompt", "gymnasium/CartPole-v1", "--candidate", "9")
    assert bad.returncode != 0 and "--candidate" in bad.stderr and "Traceback" not in bad.stderr


def test_a_stale_first_observation_is_detected_and_said():
    window = load_spec("metaworld/window-close").description
    assert "first observation of an episode is stale" in window
    assert "stale" not in load_spec("metaworld/reach").description


def test_a_hopper_that_falls_is_told_which_healthy_range_it_left():
    from promptpo.policy.evaluate import Evaluator
    from promptpo.policy.pool import EnvPool
    from promptpo.policy.feedback import episode_line
    from promptpo.isolation.base import Limits
    from promptpo.isolation.process import ProcessSandbox

    spec = load_spec("gymnasium/Hopper-v5")
    code = "import numpy as np\n\nclass Policy:\n    def act(self, obs):\n        return np.array([1.0, -1.0, 1.0])\n"
    with ProcessSandbox() as box:
        pool = EnvPool(spec, 0)
        try:
            evaluation = Evaluator(spec, box, Limits(), pool).evaluate(code, spec.episodes(0, 2))
        finally:
            pool.close()
    lines = [episode_line(spec, e) for e in evaluation.episodes]
    assert all(e.terminated and e.length < 100 for e in evaluation.episodes)
    terms = evaluation.episodes[0].digest.info  # the env's reward terms, from info at every step
    assert {"reward_forward", "reward_ctrl", "reward_survive"} <= set(terms) and not terms["reward_ctrl"].flag
    assert all(re.search(r"terminated \(the torso's (angle rooty|height rootz) = -?[\d.]+ left its healthy range",
                         line) for line in lines), lines


def test_derived_distances_follow_each_tasks_success_test():
    import numpy as np

    obs = np.zeros(39)
    obs[4:7], obs[36:39] = [0.1, 0.7, 0.2], [0.3, 0.75, 0.2]
    window = load_spec("metaworld/window-close")  # success: the handle within 0.05 m of the goal in x only
    distances = window.derived(obs)
    assert next(iter(distances)) == "obj_to_goal_x" and distances["obj_to_goal_x"] == pytest.approx(0.2)
    assert "obj_to_goal_x" in window.derived_doc and "success test" in window.derived_doc
    assert load_spec("metaworld/door-lock").derived(obs)["obj_to_goal_z"] == pytest.approx(0.0)
    assert not any(k.startswith("obj_to_goal_") for k in load_spec("metaworld/pick-place").derived(obs))


def test_an_episode_ends_by_the_env_the_horizon_or_its_first_success_where_told():
    """EnvSpec.judge_step, the rule the fine-tuning's and the PPO baseline's evaluations share with the sandbox's:
    success counts at any step; the episode ends when the env ends it, at the horizon, or at a success if told."""
    import dataclasses

    spec = dataclasses.replace(load_spec("gymnasium/CartPole-v1"), horizon=10,
                               is_success=lambda info, reward, terminated: bool(info.get("ok")))
    assert spec.judge_step(3, 1.0, False, False, {}, True) == (False, False)
    assert spec.judge_step(3, 1.0, False, False, {"ok": 1}, False) == (True, False)
    assert spec.judge_step(3, 1.0, False, False, {"ok": 1}, True) == (True, True)
    assert spec.judge_step(10, 1.0, False, False, {}, False) == (False, True)
    assert spec.judge_step(4, 1.0, True, False, {}, False) == (False, True)
    assert spec.judge_step(4, 1.0, False, True, {}, False) == (False, True)
    plain = load_spec("gymnasium/CartPole-v1")
    assert plain.judge_step(4, 1.0, False, False, {"ok": 1}, True) == (False, False)  # no success defined
