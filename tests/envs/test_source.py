"""Reward source as the prompt shows it: installed code, only the branch the live environment runs."""

from __future__ import annotations

import ast
import textwrap

import pytest

from promptpo.envs import load_spec
from promptpo.envs.source import live_branches

CODE = textwrap.dedent('''
    def compute_reward(self, action, obs):
        assert obs is not None
        if self.reward_function_version == "v2":
            reward = 1.0  # shaped
            return reward
        else:
            legacy = 2.0
            return legacy
''').strip()


def test_the_live_branch_is_kept_and_named():
    shown = live_branches(CODE, {"reward_function_version": "v2"})
    assert "reward = 1.0  # shaped" in shown and "legacy" not in shown
    assert "`self.reward_function_version == \"v2\"` is True" in shown and "'v2'" in shown
    ast.parse(shown)
    other = live_branches(CODE, {"reward_function_version": "v1"})
    assert "legacy = 2.0" in other and "shaped" not in other
    ast.parse(other)


def test_elif_chains_missing_else_and_unknown_settings():
    code = textwrap.dedent('''
        def f(self):
            if self.mode != "a":
                x = 1
            elif self.mode == "b":
                x = 2
            else:
                x = 3
            if self.mode == "z":
                x = 4
            if self.step_count == 3:
                x = 5
            return x
    ''').strip()
    shown = live_branches(code, {"mode": "a"})
    ast.parse(shown)
    assert "x = 1" not in shown and "x = 2" not in shown and "x = 3" in shown and "x = 4" not in shown
    assert "if self.step_count == 3:" in shown  # not a fixed setting: left as it is
    assert live_branches("def broken(:", {"mode": "a"}) == "def broken(:"


@pytest.mark.parametrize("task", ["reach", "pick-place", "push", "door-open"])
def test_metaworld_reward_source_shows_only_the_installed_version(task):
    spec = load_spec(f"metaworld/{task}")
    source = spec.reward_source
    ast.parse(source)
    assert "def compute_reward" in source and "def evaluate_state" in source
    code_lines = [line.split("#")[0] for line in source.splitlines()]
    assert not any("reward_function_version" in line for line in code_lines), "a version branch is still shown"
    assert "only the branch that runs is shown" in source
    if task == "pick-place":
        assert "_gripper_caging_reward" in source  # the v2 reward, not the legacy one
