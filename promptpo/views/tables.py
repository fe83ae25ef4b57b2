"""The tables of a comparison (promptpo.views.compare): per env, the cells `promptpo compare` prints and the web
view's compare page shows, so both say the same."""

from __future__ import annotations

FEW_SEEDS = 5
"""Below this many seeds per method the table says its intervals are rough."""


def _versus_text(versus: dict) -> str:
    text = f"{versus['ratio']:.1f}x"
    if versus.get("saved") is not None:
        ci = versus.get("saved_ci95")
        text += f", {versus['saved']:+.0%}" + (f" [{ci[0]:+.0%}, {ci[1]:+.0%}]" if ci else "")
    text += f", p={versus['p_value']:.3g}" if versus["p_value"] is not None else ""
    return text + f" ({versus['test']})" + ("*" if versus["lower_bound"] else "")


def comparison_tables(result, hyperscore: bool) -> list[dict]:
    """Per env, the table `compare` prints: title, caption, columns and rows of cells (the web view shows the
    same cells)."""
    from statistics import mean

    def interval(s, fmt: str = "{:.1f}") -> str:
        if s.mean is None:
            return "-"
        text = fmt.format(s.mean)
        return text + (f" [{fmt.format(s.ci[0])}, {fmt.format(s.ci[1])}]" if s.ci else "")

    tables = []
    for env, target in result.targets.items():
        grid = result.grids.get(env) or []
        resolution = f" — evaluated every {', '.join(f'{g:,}' for g in grid)} env steps" if grid else ""
        groups = [g for g in result.groups if g.env == env]
        few = min((len(g.runs) for g in groups), default=0) < FEW_SEEDS
        caption = (
            "intervals: Student-t (final return, AUC, steps), chi-square (sd); steps saved = 1 - mean steps to "
            "target / PPO's, with the test's interval of the difference over PPO's mean (it excludes 0 exactly when "
            "p < 0.05); * some seeds never reached the "
            "target: they count as all the steps they spent, a lower bound; AUC = the curve's mean from 0 to the most env "
            "steps a run of the env spent (each curve held at its last value, and at its first before it)"
            + (f". Fewer than {FEW_SEEDS} seeds: intervals are wide and the t-based ones assume roughly normal "
               "seeds" if few else ""))
        columns = ["method", "seeds", "final return [95% CI]", "sd across seeds [95% CI]", "AUC [95% CI]", "success [95% CI]",
                   "steps to target [95% CI]", "episodes to target", "vs PPO: x fewer steps, steps saved [95% CI], p",
                   "wall s", "LLM calls", "tokens", "cost $"]
        plain = lambda s, fmt: "-" if s.mean is None else fmt.format(s.mean)  # noqa: E731 - means only
        rows = []
        for g in groups:
            steps = ("not reached" if not g.reached else
                     f"{interval(g.reached_steps(), '{:,.0f}')} ({g.reached}/{len(g.runs)} reached)")
            eps = [e for e in g.episodes_to_target if e is not None]
            episodes = "not reached" if not eps else f"{mean(eps):,.0f}"
            versus = "-"
            if g.vs_ppo:
                versus = g.vs_ppo["note"] if g.vs_ppo["ratio"] is None else _versus_text(g.vs_ppo)
            row = [g.method, str(len(g.runs)), interval(g.final_return), interval(g.final_return_std),
                   interval(g.auc), interval(g.final_success, "{:.2f}"), steps,
                   episodes, versus, plain(g.wall_time_s, "{:.0f}"), plain(g.llm_calls, "{:.0f}"),
                   plain(g.tokens, "{:,.0f}"), plain(g.cost_usd, "{:.4f}")]
            rows.append(row + ([f"{g.hyperscore:.1f}" if g.hyperscore is not None else "-"] if hyperscore else []))
        tables.append({"title": f"{env} — target: {target or 'none'}{resolution}", "caption": caption,
                       "columns": columns + (["HyperScore"] if hyperscore else []), "rows": rows})
    return tables
