"""Commands that show what a run folder holds: show (a run, or one candidate), audit, diff."""

from __future__ import annotations

import json
from pathlib import Path

import click

from promptpo.commands.common import OUT, console, num, tuning_share
from promptpo.commands.runs import _folder
from promptpo.llm.mixture import models_text
from promptpo.llm.tokens import usage_text
from promptpo.text import shown, visible


@click.command()
@click.argument("run")
@click.argument("candidate", required=False)
@OUT
def show(run: str, candidate: str | None, out: Path) -> None:
    """Summarise RUN, or show one CANDIDATE: its prompt, answer, code and per-episode results."""
    folder = _folder(run, out)
    if candidate is None:
        _show_run(folder)
    else:
        _show_candidate(folder, candidate)


def _show_run(folder) -> None:
    from rich.table import Table

    from promptpo.records import best_text, calls_text

    meta, summary, facts = folder.meta, folder.summary, folder.facts
    head = Table(title=f"run {folder.path.name}", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    for key in ("env", "method", "model", "sandbox", "seed", "target", "started", "ended"):
        if meta.get(key) is not None:  # e.g. a PPO run has no model, sandbox or target of its own
            head.add_row(key, shown(meta[key]))
    if "end_at_success" in meta:
        head.add_row("episodes end", "at the first success" if meta["end_at_success"] else "after all their steps")
    if meta.get("cascade"):
        head.add_row("cascade", f"first stage of {meta['cascade']} episodes")
    if facts.recovered:
        head.add_row("recovered", shown(f"{facts.recovered}: the summary below is rebuilt from the other records"))
    if facts.unfinished:
        head.add_row("not finished", shown(facts.unfinished))
    shown_facts = {"status": facts.status, "best_candidate": best_text(facts) if folder.has_programs else None,
                   "best_score": facts.best_score, "best_success_rate": facts.best_success,
                   "env_steps": f"{facts.env_steps:,}", "llm_calls": calls_text(facts)}
    if facts.target is not None:
        shown_facts["steps_to_target"] = f"{facts.steps_to_target:,}" if facts.steps_to_target is not None else \
            "not reached"
    if facts.model_zip is not None:
        shown_facts["model"] = f"{facts.model_zip.name} (Stable-Baselines3), final return {num(facts.final_return)}"
    for key in ("status", "reason", "best_candidate", "best_score", "best_success_rate", "env_steps",
                "steps_to_target", "llm_calls", "tokens", "cost_usd", "wall_time_s", "model"):
        if key in ("steps_to_target", "model") and key not in shown_facts:
            continue
        value = shown_facts[key] if key in shown_facts else summary.get(key)
        head.add_row(key, usage_text(summary) if key == "tokens" else shown(num(value)))
        if key == "llm_calls" and models_text(summary):
            head.add_row("models", models_text(summary))
        if key == "env_steps" and summary.get("tuning_env_steps"):
            head.add_row("constant tuning", tuning_share(summary))
    base, judged = folder.meta.get("base"), summary.get("judged")
    if isinstance(base, dict):  # a fine-tuning: what it started from, and what was kept
        head.add_row("base", shown(f"{base.get('candidate')} of {base.get('run')} (mean return {num(base.get('score'))}, "
                                   f"{base.get('env_steps', 0):,} env steps; sha256 {str(base.get('sha256'))[:12]})"))
        from promptpo.records.facts import FINETUNE_SETTINGS  # here: `promptpo --help` imports no numpy

        learning = [f"{k}={v}" for k, v in facts.method.settings if k in FINETUNE_SETTINGS]
        head.add_row("settings", shown(", ".join(learning)))
    if isinstance(judged, dict) and judged.get("base_return") is not None:
        kept = "the fine-tuned policy" if judged.get("result") == "finetuned" else "the base"
        head.add_row("judged", shown(f"kept {kept}: fine-tuned {num(judged.get('finetuned_return'))} "
                                     f"vs base {num(judged.get('base_return'))} on {judged.get('episodes')} fresh "
                                     f"episodes (p={num(judged.get('p_value'))})"))
    if not folder.has_programs:  # one learning curve, no candidates
        table = Table(title="learning curve (deterministic evaluation)")
        for column in ("env steps", "episodes", "mean return", "success", "wall s"):
            table.add_column(column)
        for p in facts.curve:
            if p.mean_return is None:
                continue  # the curve's start at 0 env steps, before anything was measured
            table.add_row(f"{p.env_steps:,}", str(p.episodes), num(p.mean_return), num(p.success_rate),
                          num(p.wall_time_s))
    else:
        table = Table(title="candidates")
        for column in ("id", "kind", "parent", "outcome", "mean return", "success", "episodes", "env steps", "problem"):
            table.add_column(column)
        for c in folder.candidates:
            score = c.get("score") or {}
            stage = (c.get("evaluation") or {}).get("stage")
            ran = len((c.get("evaluation") or {}).get("episodes") or [])
            episodes = f"{ran} of {stage['of']} (stopped)" if stage and not stage["passed"] else str(ran)
            table.add_row(shown(c["id"]), shown(c.get("kind", "")), shown(c.get("parent") or "-"),
                          shown(c.get("outcome", "")), num(score.get("mean_return")), num(score.get("success_rate")),
                          episodes, str(c.get("env_steps", 0)), shown((c.get("error") or "")[:60], keep_newlines=False))
    out = console()
    out.print(head)
    out.print(table)


def _show_candidate(folder, candidate_id: str) -> None:
    from rich.rule import Rule
    from rich.syntax import Syntax
    from rich.table import Table

    record = folder.candidate(candidate_id)
    out = console()
    call = record.get("llm_call")
    out.print(Rule(f"{record['id']}: prompt (llm/{call:04d}.prompt.md)"))
    out.print(shown(folder.llm_text(call, "prompt.md")))
    out.print(Rule(f"{record['id']}: answer (llm/{call:04d}.response.md)"))
    out.print(shown(folder.llm_text(call, "response.md")))
    out.print(Rule(shown(f"{record['id']}: code as run — {record['outcome']}")))
    out.print(Syntax(visible(folder.code(record["id"])), "python", line_numbers=True))
    if record.get("error"):
        out.print(shown(f"problem: {record['error']}"))
    stage = (record.get("evaluation") or {}).get("stage")
    if stage:
        out.print(shown(f"first stage ({stage['episodes']} of {stage['of']} episodes): {stage['reason']}; "
                        + ("went on" if stage["passed"] else "stopped there")))
    episodes = (record.get("evaluation") or {}).get("episodes") or []
    if episodes:
        table = Table(title="episodes")
        for column in ("episode", "seed", "extras", "return", "length", "success", "success step", "ended"):
            table.add_column(column)
        for e in episodes:
            ended = ("not finished" if not e["completed"] else "at success" if e.get("ended_at_success") else
                     "terminated" if e["terminated"] else "time limit")
            table.add_row(str(e["index"]), str(e["seed"]), shown(json.dumps(e["extras"])), f"{e['episode_return']:.2f}",
                          str(e["length"]), str(e["success"]), str(e["success_step"]), ended)
        out.print(table)


@click.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@OUT
def audit(run: str, as_json: bool, out: Path) -> None:
    """One row per candidate: score, env steps, outcome, static findings, limit hits, warnings."""
    from rich.table import Table

    from promptpo.views.audit import audit as audit_rows
    from promptpo.views.audit import to_json

    rows = audit_rows(_folder(run, out))
    if as_json:
        print(json.dumps(to_json(rows), indent=2))
        return
    table = Table(title=f"audit of {run}")
    for column in ("round", "candidate", "parent", "score", "env steps", "outcome", "static findings", "flags"):
        table.add_column(column, overflow="fold")
    for r in rows:
        score = "-" if r.mean_return is None else f"{r.mean_return:.2f} ± {r.std_return:.2f}" + (
            f", success {r.success_rate:.2f}" if r.success_rate is not None else "")
        table.add_row(str(r.round), shown(f"{r.id} ({r.kind})"), shown(r.parent or "-"), score, str(r.env_steps),
                      shown(r.outcome + (f": {r.error[:60]}" if r.error else ""), keep_newlines=False),
                      shown("\n".join(r.findings) or "-"), shown("\n".join(r.flags) or "-"))
    console().print(table)


@click.command()
@click.argument("run")
@click.argument("a")
@click.argument("b")
@OUT
def diff(run: str, a: str, b: str, out: Path) -> None:
    """The code diff between candidates A and B of RUN, with the change in score."""
    from rich.syntax import Syntax

    from promptpo.views import textdiff
    from promptpo.records import criterion_of, score_text

    folder = _folder(run, out)
    first, second = folder.candidate(a), folder.candidate(b)
    old, new = folder.code(a), folder.code(b)
    problem = textdiff.too_large(old, new)
    if problem is not None:
        where = folder.path / "candidates"
        text = f"({problem}: diff -u {where / f'{a}.py'} {where / f'{b}.py'})\n"
    else:
        text = textdiff.unified(old, new, f"{a}.py", f"{b}.py") or "(identical code)\n"
    out_console = console()
    out_console.print(shown(f"{a}: {score_text(first)}  ->  {b}: {score_text(second)}"))
    for line in textdiff.score_change(a, first, b, second, criterion_of(folder.meta)):
        out_console.print(shown(line))
    out_console.print(Syntax(visible(text), "diff"))
