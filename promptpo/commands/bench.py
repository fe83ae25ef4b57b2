"""`promptpo bench SUITE`: a suite of tasks x seeds x methods, resumable, ending with compare's table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from promptpo.commands.common import console, setup_logging


@click.command()
@click.argument("suite")
@click.option("--model", default=None, help="The model of the suite's promptpo methods ({model} in the suite file).")
@click.option("--seeds", type=int, default=None, help="Run seeds 0..N-1 instead of the suite's seeds.")
@click.option("--methods", default=None, help="Only these of the suite's methods (comma-separated names).")
@click.option("--executor", default="local", show_default=True,
              help="Where jobs run: local (--jobs at once) or ray (Ray tasks; --address or $RAY_ADDRESS, else a "
                   "local Ray).")
@click.option("--address", default=None, help="Ray cluster address (ray://host:10001 or host:6379).")
@click.option("--jobs", type=int, default=1, show_default=True, help="Local executor: jobs run at once.")
@click.option("--retry-failed", is_flag=True, help="Start failed jobs again (beside their failed run folder).")
@click.option("--list", "list_only", is_flag=True, help="Print the suite's jobs and where each stands; run nothing.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("benches"), show_default=True,
              help="Folder holding bench folders (one per suite: OUT/SUITE).")
def bench(suite: str, model: str | None, seeds: int | None, methods: str | None, executor: str, address: str | None, jobs: int,
          retry_failed: bool, list_only: bool, out: Path) -> None:
    """Run SUITE (a shipped name: mt1-6, mt1-50, classic, hrl-hs; or a .toml/.yaml file): every (task, method,
    seed) job is an ordinary run folder under OUT/SUITE/method/task/seed-N. A re-run skips finished jobs and
    resumes interrupted ones. It ends with compare's table, also written as comparison.json and .png."""
    setup_logging(False)
    from promptpo.bench.jobs import plan
    from promptpo.bench.runner import run_suite
    from promptpo.bench.suite import load, only
    from promptpo.errors import ConfigError

    if jobs < 1 or (seeds is not None and seeds < 1):
        raise ConfigError("--jobs and --seeds must be at least 1")
    loaded = load(suite, list(range(seeds)) if seeds is not None else None)
    if methods is not None:
        loaded = only(loaded, [m.strip() for m in methods.split(",") if m.strip()])
    folder = out / loaded.name
    err = console(stderr=True)
    if list_only:
        for job in loaded.jobs():
            print(f"{job.key}: {plan(job, folder, model, retry_failed).action}")
        return
    total = len(loaded.jobs())
    err.print(f"bench {loaded.name}: {len(loaded.tasks)} tasks x {len(loaded.seeds)} seeds x "
              f"{len(loaded.methods)} methods = {total} jobs, executor {executor}, in {folder}", markup=False)
    outcomes = _with_progress(err, total, lambda notify: run_suite(loaded, folder, model, executor, jobs, address,
                                                                   retry_failed, notify))
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        last = o.error.strip().splitlines()[-1] if o.error.strip() else "no message"
        err.print(f"failed: {o.key} ({o.action}, exit {o.code}): {last}", markup=False)
    _compare(folder, err)
    print(json.dumps({"suite": loaded.name, "folder": str(folder), "jobs": total,
                      "ran": sum(o.action in ("run", "resume") for o in outcomes),
                      "skipped": sum(o.action == "done" for o in outcomes), "failed": len(failed),
                      "wall_time_s": round(sum(o.wall_time_s for o in outcomes), 2)}))
    if failed:
        sys.exit(1)


def _with_progress(err, total: int, work):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    counts = {"done": 0, "running": 0, "failed": 0}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[state]}"),
                  TimeElapsedColumn(), console=err, transient=not err.is_terminal) as progress:
        bar = progress.add_task("jobs", total=total, state="")

        def notify(outcome, started: bool) -> None:
            if started:
                counts["running"] += 1
            else:
                counts["running"] -= outcome.action in ("run", "resume")
                counts["done" if outcome.ok else "failed"] += 1
                progress.advance(bar)
            progress.update(bar, state=f"{counts['done']} done, {counts['running']} running, {counts['failed']} failed")
            if not err.is_terminal and not started:
                err.print(f"[{counts['done'] + counts['failed']}/{total}] {outcome.key}: "
                          f"{'ok' if outcome.ok else 'FAILED'} ({outcome.action})", markup=False)

        return work(notify)


def _compare(folder: Path, err) -> None:
    from promptpo.commands.baseline import comparison_table
    from promptpo.views.compare import compare, load_run, to_json
    from promptpo.errors import PromptpoError
    from promptpo.views.plot import save
    from promptpo.records import run_folders

    folders = run_folders(folder)
    if not folders:
        err.print("no run folders to compare yet", markup=False)
        return
    records = [load_run(path) for path in folders]
    try:
        result = compare(records, allow_different_grids=True)
    except PromptpoError as problem:
        err.print(f"no comparison: {problem}", markup=False)
        return
    text = comparison_table(result, False)
    sys.stdout.write(text)
    (folder / "comparison.txt").write_text(text)
    (folder / "comparison.json").write_text(json.dumps(to_json(result), indent=2) + "\n")
    err.print(f"comparison: {folder / 'comparison.txt'}, {folder / 'comparison.json'}, "
              f"{save(records, folder / 'comparison.png', result, text)}", markup=False)
