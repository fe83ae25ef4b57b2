"""Plots for comparisons: score vs env steps (log x), mean and 95% band across seeds; with a
comparison against PPO, a second row shows each method's fraction of PPO's steps saved with its
95% interval (the t-test's interval of the difference, over PPO's mean)."""

from __future__ import annotations

import base64
import html
import io
import warnings
from pathlib import Path

import numpy as np

from promptpo.views.compare import Comparison, RunRecord
from promptpo.envs.targets import SUCCESS_FAMILIES, target_for


def _step_values(record: RunRecord, grid: np.ndarray, metric: str) -> np.ndarray:
    """The curve as a step function on ``grid``: the last evaluation at or before each x."""
    xs = np.array([p.env_steps for p in record.curve], dtype=float)
    ys = np.array([np.nan if getattr(p, metric) is None else getattr(p, metric) for p in record.curve], dtype=float)
    idx = np.searchsorted(xs, grid, side="right") - 1
    return np.where(idx >= 0, ys[np.clip(idx, 0, None)], np.nan)


def figure(records: list[RunRecord], comparison: Comparison | None = None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({r.env for r in records})
    compared = [g for g in (comparison.groups if comparison else []) if g.vs_ppo and g.vs_ppo.get("saved") is not None]
    rows = 2 if compared else 1
    fig, axes = plt.subplots(rows, len(envs), figsize=(6.5 * len(envs), 4.5 * rows), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]} if compared else None)
    if compared:
        for ax, env in zip(axes[1], envs):
            mine = [g for g in compared if g.env == env]
            if mine:
                _savings(ax, mine)
            else:  # an env with no PPO runs, or none that reached its target: nothing saved to draw
                ax.axis("off")
                ax.text(0.5, 0.5, f"{env}: no comparison with PPO", ha="center", va="center", fontsize=9)
    for ax, env in zip(axes[0], envs):
        metric = "success_rate" if env.split("/")[0] in SUCCESS_FAMILIES else "mean_return"
        runs = [r for r in records if r.env == env and r.curve]
        steps = [p.env_steps for r in runs for p in r.curve if p.env_steps > 0]
        if not steps:
            continue
        grid = np.unique(np.geomspace(max(1, min(steps)), max(steps), 200).round())
        for method in sorted({r.method for r in runs}, key=lambda m: (m != "ppo", m)):
            values = np.array([_step_values(r, grid, metric) for r in runs if r.method == method])
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)  # no run has a point yet at the left edge
                mean = np.nanmean(values, axis=0)
                count = np.sum(~np.isnan(values), axis=0)
                sem = np.nanstd(values, axis=0) / np.sqrt(np.maximum(count, 1))
            label = f"{method} ({len(values)} seed{'s' if len(values) != 1 else ''})"
            line, = ax.step(grid, mean, where="post", label=label)
            if len(values) > 1:
                low, high = mean - 1.96 * sem, mean + 1.96 * sem
                if metric == "success_rate":  # a rate's band stays within [0, 1]
                    low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
                ax.fill_between(grid, low, high, step="post", alpha=0.2, color=line.get_color())
        target = target_for(env)
        if target is not None:
            ax.axhline(target.threshold, color="grey", linestyle="--", linewidth=1, label=f"target: {target.describe()}")
        ax.set_xscale("log")
        ax.set_xlabel("env steps (best so far for methods that train several times)")
        ax.set_ylabel("success rate" if metric == "success_rate" else "mean return")
        ax.set_title(env)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _savings(ax, groups: list) -> None:
    """Forest plot: steps to target saved vs PPO (1 - mean / PPO's mean), with the test's 95% interval."""
    ax.axvline(0.0, color="grey", linewidth=1)
    for row, g in enumerate(groups):
        saved, ci = g.vs_ppo["saved"], g.vs_ppo.get("saved_ci95")
        ax.plot([saved], [row], "o", color="black")
        if ci:
            ax.hlines(row, ci[0], ci[1], color="black")
        label = f"{saved:+.0%}" + (f" [{ci[0]:+.0%}, {ci[1]:+.0%}]" if ci else "")
        ax.annotate(label, (saved, row), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_yticks(range(len(groups)), [g.method + ("*" if g.vs_ppo["lower_bound"] else "") for g in groups],
                  fontsize=8)
    ax.set_ylim(-0.6, len(groups) - 0.4)
    ends = [v for g in groups for v in [g.vs_ppo["saved"], *(g.vs_ppo.get("saved_ci95") or [])]]
    span = max(ends) - min(ends) or 1.0
    ax.set_xlim(min(min(ends) - 0.1 * span, -0.5), max(max(ends) + 0.1 * span, 0.5))
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:+.0%}")
    ax.set_xlabel("env steps to target saved vs PPO (95% CI of the t-test)")
    ax.set_title("* some seeds never reached the target: they count as all the steps they spent", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)


def save(records: list[RunRecord], path: Path, comparison: Comparison | None = None, table_text: str = "") -> Path:
    """PNG, or a self-contained HTML page (the plot inlined, plus the table) for an .html path."""
    fig = figure(records, comparison)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".html":
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120)
        image = base64.b64encode(buffer.getvalue()).decode()
        path.write_text(f"<!doctype html><meta charset='utf-8'><title>promptpo compare</title>"
                        f"<h1>promptpo compare</h1><img alt='learning curves' src='data:image/png;base64,{image}'>"
                        f"<pre>{html.escape(table_text)}</pre>")
    else:
        fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
