"""Commands that list and hand on run folders: runs, report, dataset, resume (show, audit and diff are in
promptpo.commands.inspect; verify and export in promptpo.commands.verify)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from promptpo.commands.common import OUT, console, num, setup_logging
from promptpo.errors import ConfigError
from promptpo.llm.tokens import usage_text
from promptpo.text import shown


def _folder(run: str, out: Path):
    from promptpo.records import RunFolder

    return RunFolder.find(run, out)


@click.command()
@OUT
def runs(out: Path) -> None:
    """List the runs in the output folder and the folders under it (a bench's runs), newest first."""
    from rich.table import Table

    from promptpo.records import best_text, calls_text, newest_first, open_runs, run_folders, status_text

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
    opened, unreadable = open_runs(folders, read=lambda run: run.facts)
    runs_at = {run.path: run for run in opened}
    for path in folders:  # the run's id (what `show` and the other commands take), and where it is under --out
        where = [shown(str(path.parent.relative_to(out)) if path.parent != out else ".")] if nested else []
        if path in unreadable:
            table.add_row(shown(path.name), *where, "?", "?", shown(f"unreadable: {unreadable[path].message}"),
                          *["-"] * 7)
            continue
        run = runs_at[path]
        facts = run.facts
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
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="HTML file to write (default: report.html in the run folder).")
@OUT
def report(run: str, output: Path | None, out: Path) -> None:
    """One self-contained HTML report of RUN: settings, progress plots, candidate tree, code and results."""
    from promptpo.views.report import report as write_report

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
    from promptpo.views.dataset import export as write_dataset

    done = write_dataset([_folder(r, out) for r in runs], output, include_offline)
    print(f"wrote {done.written} examples to {output}", file=sys.stderr)
    for why, count in done.left_out.items():
        print(f"left out {count} {why}", file=sys.stderr)


@click.command()
@click.argument("run")
@OUT
@click.option("--finish", is_flag=True, help="A stopped fine-tuning or off-policy learner: train no more, judge "
                                               "it where it stopped and end it.")
@click.option("-v", "--verbose", is_flag=True, help="Log retries and sandbox details.")
def resume(run: str, out: Path, finish: bool, verbose: bool) -> None:
    """Continue an interrupted run: finished work is kept and recorded answers are not paid for again."""
    setup_logging(verbose)
    from promptpo.commands.optimize import resume_run
    from promptpo.finetune.policy import is_finetuned

    folder = _folder(run, out)
    if is_finetuned(folder):  # a learner continues from its last checkpoint
        from promptpo.commands.finetune import resume_finetuning

        resume_finetuning(folder, finish)
        return
    if finish:
        from promptpo.errors import RunStoreError
        from promptpo.resume import continuable

        try:
            continuable(folder)
            hint = f"continue it with `promptpo resume {folder.name}`"
        except RunStoreError:
            hint = "it has no learner to judge"
        raise ConfigError(f"--finish ends a stopped fine-tuning or off-policy learner; {folder.name} is a "
                          f"{folder.kind} run", hint)
    resume_run(folder)  # the header, the run folder and each candidate as `optimize` shows them
