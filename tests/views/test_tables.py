"""promptpo.views.tables: the cells of a comparison's tables, which `promptpo compare` prints and the web view shows."""

from __future__ import annotations

import pytest

from promptpo.views.compare import Comparison, GroupResult, Summary
from promptpo.views.tables import FEW_SEEDS, comparison_tables


def group(env: str = "gymnasium/CartPole-v1", method: str = "ppo", seeds: int = 2, **fields) -> GroupResult:
    values = {"final_return": Summary([500.0, 480.0], 490.0, (400.25, 579.75)), "final_return_std": Summary([]),
              "final_success": Summary([]), "steps_to_target": [None] * seeds, "episodes_to_target": [None] * seeds,
              "spent": [1000] * seeds, "wall_time_s": Summary([1.0], 12.4), "llm_calls": Summary([]),
              "tokens": Summary([1.0], 12345.0), "cost_usd": Summary([1.0], 0.12345)}
    values.update(fields)
    return GroupResult(env, method, [f"run{i}" for i in range(seeds)], list(range(seeds)), **values)


def cells(table: dict, row: int = 0) -> dict:
    return dict(zip(table["columns"], table["rows"][row]))


def test_one_table_per_env_with_its_target_and_grid():
    result = Comparison({"gymnasium/CartPole-v1": "mean return >= 475", "metaworld/reach-v3": None},
                        [group(), group("metaworld/reach-v3", "promptpo")], grids={"gymnasium/CartPole-v1": [1000, 20000]})
    first, second = comparison_tables(result, hyperscore=False)
    assert first["title"] == "gymnasium/CartPole-v1 — target: mean return >= 475 — evaluated every 1,000, 20,000 env steps"
    assert second["title"] == "metaworld/reach-v3 — target: none"
    assert [r[0] for r in first["rows"]] == ["ppo"] and [r[0] for r in second["rows"]] == ["promptpo"]


def test_the_cells_of_a_group_that_never_reached_its_target():
    [table] = comparison_tables(Comparison({"gymnasium/CartPole-v1": None}, [group()]), hyperscore=False)
    row = cells(table)
    assert row["seeds"] == "2"
    assert row["final return [95% CI]"] == "490.0 [400.2, 579.8]"
    assert row["sd across seeds [95% CI]"] == "-" and row["AUC [95% CI]"] == "-" and row["success [95% CI]"] == "-"
    assert row["steps to target [95% CI]"] == "not reached" and row["episodes to target"] == "not reached"
    assert row["vs PPO: x fewer steps, steps saved [95% CI], p"] == "-"
    assert (row["wall s"], row["LLM calls"], row["tokens"], row["cost $"]) == ("12", "-", "12,345", "0.1235")
    assert "HyperScore" not in table["columns"] and len(table["rows"][0]) == len(table["columns"])


def test_steps_and_episodes_to_target_over_the_seeds_that_reached_it():
    g = group(seeds=3, steps_to_target=[1000, None, 3000], episodes_to_target=[10, None, 21],
              final_success=Summary([1.0, 0.5], 0.75, (0.1, 1.0)))
    row = cells(comparison_tables(Comparison({g.env: None}, [g]), hyperscore=False)[0])
    assert row["steps to target [95% CI]"].startswith("2,000 [")
    assert row["steps to target [95% CI]"].endswith("] (2/3 reached)")
    assert row["episodes to target"] == "16"  # mean of 10 and 21, rounded
    assert row["success [95% CI]"] == "0.75 [0.10, 1.00]"


def test_the_versus_ppo_cell():
    versus = {"ratio": 2.5, "saved": 0.6, "saved_ci95": (0.2, 0.9), "p_value": 0.01234, "test": "Welch t",
              "lower_bound": True}
    g = group(method="promptpo", vs_ppo=versus)
    row = cells(comparison_tables(Comparison({g.env: None}, [g]), hyperscore=False)[0])
    assert row["vs PPO: x fewer steps, steps saved [95% CI], p"] == "2.5x, +60% [+20%, +90%], p=0.0123 (Welch t)*"
    plain = {**versus, "saved": None, "p_value": None, "lower_bound": False}
    g = group(method="promptpo", vs_ppo=plain)
    row = cells(comparison_tables(Comparison({g.env: None}, [g]), hyperscore=False)[0])
    assert row["vs PPO: x fewer steps, steps saved [95% CI], p"] == "2.5x (Welch t)"
    g = group(method="promptpo", vs_ppo={"ratio": None, "note": "PPO never reached the target"})
    row = cells(comparison_tables(Comparison({g.env: None}, [g]), hyperscore=False)[0])
    assert row["vs PPO: x fewer steps, steps saved [95% CI], p"] == "PPO never reached the target"


def test_the_hyperscore_column_only_when_asked():
    groups = [group(hyperscore=0.8312), group(method="random")]
    [table] = comparison_tables(Comparison({"gymnasium/CartPole-v1": None}, groups), hyperscore=True)
    assert table["columns"][-1] == "HyperScore"
    assert [r[-1] for r in table["rows"]] == ["0.8", "-"]


@pytest.mark.parametrize("seeds, rough", [(FEW_SEEDS - 1, True), (FEW_SEEDS, False)])
def test_the_caption_says_when_intervals_are_rough(seeds, rough):
    [table] = comparison_tables(Comparison({"gymnasium/CartPole-v1": None}, [group(seeds=seeds)]), hyperscore=False)
    assert (f"Fewer than {FEW_SEEDS} seeds" in table["caption"]) is rough
    assert table["caption"].startswith("intervals: Student-t")


def test_an_env_with_no_group_has_an_empty_table():
    [table] = comparison_tables(Comparison({"gymnasium/CartPole-v1": None}, []), hyperscore=False)
    assert table["rows"] == [] and table["title"] == "gymnasium/CartPole-v1 — target: none"
