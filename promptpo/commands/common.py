"""What every command shares: consoles, logging set-up, the --out option, how a run ends, number formatting."""

from __future__ import annotations

import logging
import typing
from pathlib import Path

import click

from promptpo.commands.options import field_option
from promptpo.outcome import RunStatus
from promptpo.schedule.config import ScheduleConfig

OUT = click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                   help="Folder holding run folders.")


EVAL_POINTS, EVAL_EVERY = (field_option(ScheduleConfig, name) for name in ("eval_points", "eval_every"))
"""A PPO training's evaluation grid, as a schedule run states it (the baselines train PPO on the same grid)."""


class Unpadded:
    """A pipe or file under a rich Console, given each line without the spaces rich pads it with to the console's
    width (a diff's lines, a table's title: every piped line was 200 columns wide)."""

    def __init__(self, stream):
        self.stream = stream
        self.line = ""

    def write(self, text: str) -> int:
        *lines, self.line = (self.line + text).split("\n")
        for line in lines:
            self.stream.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        if self.line:  # a line without its end yet: kept whole (what follows may need its spaces)
            self.stream.write(self.line)
            self.line = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"


def console(stderr: bool = False):
    import sys

    from rich.console import Console

    made = Console(stderr=stderr, highlight=False)
    if not made.is_terminal:  # piped output: do not wrap tables at 80 columns, and pad no line to 200
        made = Console(file=Unpadded(sys.stderr if stderr else sys.stdout), highlight=False, width=200)
    return made


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=console(stderr=True), show_time=False, show_path=False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", handlers=[handler])


def finish(result, then=None) -> None:
    """Print how a run ended and where its folder is; exit with the status's code (after ``then(result)``, a stage
    that follows a run that finished, such as `optimize --finetune`: its own code when it ran)."""
    import sys

    from promptpo.llm.tokens import usage_text
    from promptpo.text import shown

    err = console(stderr=True)
    s = result.summary
    best = "none" if result.best_candidate is None else (
        f"{result.best_candidate}: mean return {result.score:.2f}"
        + (f", success rate {result.success_rate:.2f}" if s.get("best_success_rate") is not None else ""))
    cost = "unknown (unpriced model)" if s["cost_usd"] is None else f"${s['cost_usd']:.4f}"
    err.print(shown(f"status: {result.status}" + (f" — {result.reason}" if result.reason else "")))
    err.print(f"best: {best}", markup=False)
    if s.get("final_return") is not None and result.best_candidate is None:
        err.print(f"final return {num(s['final_return'])}", markup=False)
    unanswered = s.get("llm_calls_unanswered") or 0  # sent, never answered: not counted as calls
    calls = f"{s['llm_calls']}" + (f" (+{unanswered} sent, not answered)" if unanswered else "")
    err.print(f"env steps {s['env_steps']:,} · LLM calls {calls} · tokens {usage_text(s)} · cost {cost} · "
              f"{s['wall_time_s']:.0f} s", markup=False)
    if s.get("tuning_env_steps"):
        err.print(f"constant tuning: {tuning_share(s)}", markup=False)
    status = RunStatus.read(result.status)
    if status in (RunStatus.INTERRUPTED, RunStatus.FAILED):
        err.print(f"continue it with: promptpo resume {result.run_dir.name} --out {result.run_dir.parent}",
                  markup=False)
    print(f"run folder: {result.run_dir}")
    if then is not None and status is not None and status.finished and result.best_candidate is not None:
        then(result)
    sys.exit(status.exit_code if status else 1)


def tuning_share(summary: dict) -> str:
    """'87,012 env steps in 60 evaluations (94% of the env steps this run spent)' (--tune-share caps tuning's part of
    --max-env-steps, or of all the run's env steps without it: promptpo.policy.tuning_share.share_text)."""
    steps, total = summary.get("tuning_env_steps") or 0, summary.get("env_steps") or 0
    share = f" ({steps / total:.0%} of the env steps this run spent)" if total else ""
    return f"{steps:,} env steps in {summary.get('tuning_evaluations', 0)} evaluations{share}"


def num(value, prefix: str = "") -> str:
    return "-" if value is None else f"{prefix}{value:.4g}" if isinstance(value, float) else f"{prefix}{value}"


def eval_text(mean: float | None, success: float | None = None) -> str | None:
    """What a seed's bar shows after an evaluation (None: nothing new)."""
    if mean is None:
        return None
    return f"eval return {mean:.1f}" + (f", success {success:.2f}" if success is not None else "")


class SeedBars:
    """One bar per seed (``with SeedBars(err, steps) as bars``): env steps spent of ``steps``, and the score so far."""

    def __init__(self, err, steps: int | None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.steps = steps
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[score]}"), console=err)

    def __enter__(self) -> typing.Self:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def bar(self, label: str):
        """A new bar; returns ``update(done, score=None)`` (score: the text shown after it, kept when None)."""
        task = self.progress.add_task(label, total=self.steps, score="")

        def update(done: int, score: str | None = None) -> None:
            done = done if self.steps is None else min(done, self.steps)
            self.progress.update(task, completed=done, **({} if score is None else {"score": score}))

        return update


