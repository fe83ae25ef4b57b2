"""Commands that read run folders: runs, show, audit, diff, verify, export, report, dataset, resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from promptpo.commands.common import OUT, console, num, seed_progress, setup_logging, tuning_share
from promptpo.llm.mixture import models_text
from promptpo.llm.tokens import usage_text
from promptpo.text import shown, visible


def _folder(run: str, out: Path):
    from promptpo.records import RunFolder

    return RunFolder.find(run, out)


def best_text(facts) -> str:
    if facts.best:
        return facts.best
    return f"{facts.best_stopped} (stopped early)" if facts.best_stopped else "-"


@click.command()
@OUT
def runs(out: Path) -> None:
    """List the runs in the output folder and the folders under it (a bench's runs), newest first."""
    from rich.table import Table

    from promptpo.errors import RunStoreError
    from promptpo.records import RunFolder, calls_text, newest_first, run_folders, status_text

    folders = newest_first(run_folders(out))
    if not folders:
        console().print(f"no runs in {out}")
        return
    nested = any(path.parent != out for path in folders)
    table = Table()
    columns = ["run", *(["folder"] if nested else []), "env", "model", "status", "best", "return", "success",
               "env steps", "LLM calls", "tokens", "cost"]
    for column in columns:
        table.add_column(column, no_wrap=column in ("run", "env"), overflow="fold" if column == "folder" else "ellipsis")
    recovered = []
    for path in folders:  # the run's id (what `show` and the other commands take), and where it is under --out
        where = [shown(str(path.parent.relative_to(out)) if path.parent != out else ".")] if nested else []
        try:
            run = RunFolder(path)
            facts = run.facts
        except RunStoreError as err:
            table.add_row(shown(path.name), *where, "?", "?", shown(f"unreadable: {err.message}"), *["-"] * 7)
            continue
        if facts.recovered:
            recovered.append(f"{path.name}: {facts.recovered}")
        table.add_row(shown(path.name), *where, shown(facts.env), shown(run.meta.get("model") or facts.method.name),
                      shown(status_text(facts)), shown(best_text(facts)), num(facts.best_score),
                      num(facts.best_success), f"{facts.env_steps:,}", calls_text(facts), usage_text(run.summary),
                      num(facts.cost_usd, "$"))
    console().print(table)
    for line in recovered:
        console().print(shown(f"summary rebuilt from the events, candidates and calls — {line}"))


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

    from promptpo.records import calls_text

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
    if folder.kind in ("ppo", "online", "optuna", "pbt", "hrl"):  # one learning curve, no candidates
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

    from promptpo.audit import audit as audit_rows
    from promptpo.audit import to_json

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

    from promptpo import textdiff
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


@click.command()
@click.argument("run")
@click.argument("candidate", required=False)
@click.option("--episodes", type=int, default=None,
              help="Fresh episodes (default: 100; Meta-World: one per goal of a fresh set of 50).")
@click.option("--seeds", type=int, default=5, show_default=True,
              help="Schedule runs: fresh training seeds, one run folder each (laid out like a PPO baseline's).")
@click.option("--first-seed", type=int, default=None,
              help="Schedule runs: the first fresh seed (default: the one after the run's).")
@click.option("--sandbox", default="process", show_default=True, help="Isolation backend: process or docker.")
@click.option("--full-episodes", is_flag=True, help="Run the fresh episodes to their end even where the run ended "
              "them at their first success (returns are then not compared with the recorded ones).")
@OUT
def verify(run: str, candidate: str | None, episodes: int | None, seeds: int, first_seed: int | None, sandbox: str,
           full_episodes: bool, out: Path) -> None:
    """Re-run CANDIDATE (default: the best) in the sandbox on episodes the run never saw."""
    setup_logging(False)
    from promptpo.errors import ConfigError
    from promptpo.verify import headline, interval_text
    from promptpo.verify import verify as run_verify

    if episodes is not None and episodes < 1:
        raise ConfigError(f"--episodes must be at least 1 (got {episodes})")
    folder = _folder(run, out)
    if folder.kind == "schedule":  # re-train with the schedule on fresh seeds
        _verify_schedule(folder, candidate, episodes, seeds, first_seed, sandbox)
        return
    candidate = _chosen(folder, candidate, "verify")
    result = run_verify(folder, candidate, episodes, sandbox, full_episodes)
    rec, ver = result.recorded, result.verified

    def line(s) -> str:
        if s.mean_return is None:
            return "no completed episode"
        text = f"mean return {s.mean_return:.2f} ± {s.std_return:.2f} over {s.episodes} episodes"
        text += f", success rate {s.success_rate:.2f}" if s.success_rate is not None else ""
        return text + interval_text(s)

    print(f"candidate {result.candidate} of {result.run} on {result.env}")
    print("episodes: " + ("ended at their first success (as in the run)" if result.end_at_success else
                          "ran all their steps"))
    print(f"recorded: {line(rec)}")
    print(f"verified: {line(ver)}")
    verdict = headline({"verdict": result.verdict, "gap": result.gap, "outcome": result.outcome})
    print(verdict)
    print(f"recorded in {result.file}")
    _into_library(folder, result.candidate, verdict)


def _into_library(folder, candidate: str, verdict: str) -> None:
    """The verdict into the library entries holding this program (`library list` shows it)."""
    from promptpo.library import default_root, record_verification

    try:
        names = record_verification(default_root(), folder.path, candidate, verdict)
    except OSError as err:
        print(f"could not record the verification in the library at {default_root()}: {err}", file=sys.stderr)
        return
    for name in names:
        print(f"and in library entry {name}")



def _chosen(folder, candidate: str | None, verb: str) -> str:
    """The candidate to ``verb``: the one named, else the run's best; where the cascade stopped every candidate,
    the best stopped one, said in one line (verify, play and export said "has no scored candidate")."""
    pick = folder.pick(candidate, verb)
    if pick.note:
        print(f"note: {pick.note}")
    return pick.record["id"]


def _verify_schedule(folder, candidate: str | None, episodes: int | None, seeds: int, first_seed: int | None,
                     sandbox: str) -> None:
    from promptpo.errors import ConfigError
    from promptpo.retrain import retrain
    from promptpo.verify import headline

    if episodes is not None:
        raise ConfigError("--episodes is for policy runs", "a schedule run is verified on fresh seeds: use --seeds N")
    config = folder.meta.get("config", {})
    err = console(stderr=True)
    with seed_progress(err) as progress:
        bars: dict[int, int] = {}

        def point(seed: int, p) -> None:
            if seed not in bars:
                bars[seed] = progress.add_task(f"fresh seed {seed}", total=config.get("steps"), score="")
            progress.update(bars[seed], completed=p.env_steps, score=f"eval return {p.mean_return:.1f}")

        checked = retrain(folder, candidate, seeds, first_seed, sandbox, point)
    print(f"schedule {checked['candidate']} of {checked['run']} on {checked['env']}, judged on its "
          f"{checked['judged_on']}")
    print(f"recorded: {checked['recorded']}; final return {checked['recorded_final_return']}")
    print(f"fresh seeds {checked['seeds']}: {[None if v is None else round(v, 1) for v in checked['verified']]}; "
          f"final returns {[None if v is None else round(v, 1) for v in checked['verified_final_returns']]}")
    print(headline(checked))
    print(f"recorded in {checked['file']}; one run folder per fresh seed (compare them with "
          f"`promptpo baseline ppo {checked['env']} --first-seed {checked['seeds'][0]} --seeds {len(checked['seeds'])}`):")
    for name in checked["folders"]:
        print(f"  {folder.path.parent / name}")

@click.command()
@click.argument("run")
@click.argument("candidate", required=False)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Policy file to write.")
@click.option("--allow-findings", is_flag=True, help="Export even code the gate refuses (read it first).")
@OUT
def export(run: str, candidate: str | None, output: Path, allow_findings: bool, out: Path) -> None:
    """Write CANDIDATE (default: the best) as a standalone file whose header says what it is and how
    to run it sandboxed. Code the gate refuses is not exported unless --allow-findings."""
    from promptpo.export import export as write_policy

    folder = _folder(run, out)
    print(f"wrote {write_policy(folder, _chosen(folder, candidate, 'export'), output, allow_findings)}")


@click.command()
@click.argument("run")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="HTML file to write (default: report.html in the run folder).")
@OUT
def report(run: str, output: Path | None, out: Path) -> None:
    """One self-contained HTML report of RUN: settings, progress plots, candidate tree, code and results."""
    from promptpo.report import report as write_report

    folder = _folder(run, out)
    print(f"wrote {write_report(folder, output or folder.path / 'report.html')}")


@click.group()
def dataset() -> None:
    """Training data from runs."""


@dataset.command("export")
@click.argument("runs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="JSONL file to write.")
@click.option("--include-offline", is_flag=True, help="Keep the offline proposer's samples too (no prompt was sent "
              "for them: their prompt is a placeholder line).")
@OUT
def dataset_export(runs: tuple[str, ...], output: Path, include_offline: bool, out: Path) -> None:
    """A language model's prompt/answer pairs in RUNS as chat-format JSONL, with scores and whether each answer
    improved; what is left out is said."""
    from promptpo.dataset import export as write_dataset

    done = write_dataset([_folder(r, out) for r in runs], output, include_offline)
    print(f"wrote {done.written} examples to {output}", file=sys.stderr)
    for why, count in done.left_out.items():
        print(f"left out {count} {why}", file=sys.stderr)


@click.command()
@click.argument("run")
@OUT
@click.option("-v", "--verbose", is_flag=True, help="Log retries and sandbox details.")
def resume(run: str, out: Path, verbose: bool) -> None:
    """Continue an interrupted run: finished work is kept and recorded answers are not paid for again."""
    setup_logging(verbose)
    from promptpo.commands.optimize import resume_run

    resume_run(_folder(run, out))  # the header, the run folder and each candidate as `optimize` shows them
