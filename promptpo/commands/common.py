"""What every command shares: consoles, logging set-up, the --out option, number formatting."""

from __future__ import annotations

import logging
from pathlib import Path

import click

OUT = click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                   help="Folder holding run folders.")


EVAL_POINTS = click.option("--eval-points", type=int, default=20, show_default=True,
                           help="Evaluations over --steps when --eval-every is not given (the grid: --steps / N).")
EVAL_EVERY = click.option("--eval-every", type=int, default=None,
                          help="Env steps between evaluations, in whole rollouts; the same for every method with the "
                               "same --steps by default (--steps / 20), so that steps to target compare.")


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


def run_options(rounds: int, candidates: int, max_repairs: int, act_timeout: float):
    """The options every search command shares (the engine's settings), with the command's defaults."""
    options = [
        click.option("--model", multiple=True, help="LLM backend: provider/model (litellm), openai:MODEL, "
                     "anthropic:MODEL, manual, scripted:PATH or offline (no LLM). Default: $PROMPTPO_MODEL, else "
                     "offline. Give it more than once to share the calls between models, each with an optional "
                     "weight: --model a --model b@0.3."),
        click.option("--model-selection", type=click.Choice(["weighted", "bandit"]), default="weighted",
                     show_default=True, help="With several models: pick one per call by weight, or by a bandit on "
                     "how often each one's candidates improved on their parent."),
        click.option("--rounds", type=int, default=rounds, show_default=True, help="Refinement rounds."),
        click.option("--candidates", type=int, default=candidates, show_default=True,
                     help="Candidates (LLM calls) per round."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Run seed: fixes evaluation episodes, goals and training seeds."),
        click.option("--sandbox", default="process", show_default=True, help="Isolation backend: process or docker."),
        click.option("--max-llm-calls", type=int, default=None, help="Budget: LLM calls."),
        click.option("--max-env-steps", type=int, default=None, help="Budget: simulator steps."),
        click.option("--max-cost", type=float, default=None, help="Budget: USD."),
        click.option("--max-time", default=None, help="Budget: wall time, e.g. 900, 30m, 2h."),
        click.option("--concurrency", type=int, default=0, show_default=True,
                     help="Candidates of a round proposed together, their LLM calls in flight at once; they see "
                          "the same history. 0: the whole round. 1: one at a time, stopping at the first answer "
                          "that reaches the target."),
        click.option("--workers", type=int, default=0, show_default=True,
                     help="Evaluations run side by side (0: one per core); never changes the results."),
        click.option("--executor", default="local", show_default=True,
                     help="Where evaluations run: local, or ray (Ray tasks on --address / $RAY_ADDRESS, else a "
                          "local Ray; each node sandboxes its candidates itself)."),
        click.option("--address", default=None, help="Ray cluster address for --executor ray."),
        click.option("--search", type=click.Choice(["greedy", "islands"]), default="greedy", show_default=True,
                     help="How parents are chosen: greedy (slot k refines the k-th best) or islands (separate "
                          "populations with MAP-Elites cells, migrating their best every --migrate-every rounds)."),
        click.option("--islands", type=int, default=2, show_default=True, help="Islands of --search islands."),
        click.option("--migrate-every", type=int, default=3, show_default=True,
                     help="Rounds between migrations (--search islands)."),
        click.option("--edit", type=click.Choice(["full", "diff", "auto"]), default="auto", show_default=True,
                     help="How refinement and repair answers may give their program: full (whole programs), diff "
                          "(SEARCH/REPLACE blocks against the program the prompt names) or auto (either)."),
        click.option("--reflect", is_flag=True, help="After each round, one short extra LLM call asks the model what "
                     "the round taught it; its answers are shown in later prompts."),
        click.option("--reflection", type=click.Choice(["on", "off"]), default="on", show_default=True,
                     help="Show the model its own analysis (what its answer said before the program) for the "
                          "parent and the latest round."),
        click.option("--max-repairs", type=int, default=max_repairs, show_default=True,
                     help="Repair prompts after a candidate that cannot be scored."),
        click.option("--prompt-budget", type=int, default=12000, show_default=True,
                     help="Tokens per prompt, counted as the run records them (system prompt included); the "
                          "history is trimmed to fit."),
        click.option("--temperature", type=float, default=None,
                     help="Sampling temperature (default: the provider's; some models accept no other)."),
        click.option("--max-tokens", type=int, default=4096, show_default=True, help="Longest answer, in tokens."),
        click.option("--api-base", default=None, help="Base URL of the provider or of a compatible server."),
        click.option("--llm-timeout", type=float, default=120.0, show_default=True,
                     help="Seconds per LLM request before it is retried."),
        click.option("--retry-for", default="5m", show_default=True,
                     help="How long one LLM call keeps retrying connection errors, server errors, rate limits and "
                          "timeouts (backoff with jitter) before the run stops, e.g. 90s, 5m, 1h."),
        click.option("--act-timeout", type=float, default=act_timeout, show_default=True,
                     help="Seconds allowed per call into the sandboxed code (act or schedule)."),
        click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                     help="Folder for run folders."),
        click.option("-v", "--verbose", is_flag=True, help="Log retries and sandbox details."),
    ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


RUN_OPTION_NAMES = ("model", "model_selection", "rounds", "candidates", "seed", "sandbox", "concurrency", "workers", "executor",
                    "address", "search", "islands", "migrate_every", "edit", "reflection", "reflect", "max_llm_calls", "max_env_steps", "max_cost",
                    "max_time", "max_repairs", "prompt_budget", "temperature", "max_tokens", "api_base",
                    "llm_timeout", "retry_for", "act_timeout", "out", "verbose")


def run_config(config_class, env: str, options: dict, **extra):
    """A task kind's config from the shared run options (popped from ``options``) and its own ``extra``."""
    from promptpo.engine.config import Budgets, parse_duration
    from promptpo.isolation.base import Limits
    from promptpo.llm.base import GenParams

    o = {name: options.pop(name) for name in RUN_OPTION_NAMES}
    max_time = parse_duration(o["max_time"]) if o["max_time"] else None
    return config_class(
        env=env, model=",".join(o["model"]) or None, model_selection=o["model_selection"], rounds=o["rounds"], candidates=o["candidates"], seed=o["seed"],
        sandbox=o["sandbox"], concurrency=o["concurrency"], workers=o["workers"], executor=o["executor"],
        address=o["address"], search=o["search"], islands=o["islands"], migrate_every=o["migrate_every"],
        edit=o["edit"], reflection=o["reflection"] == "on", reflect=o["reflect"], max_repairs=o["max_repairs"], prompt_budget=o["prompt_budget"], out=o["out"],
        budgets=Budgets(o["max_llm_calls"], o["max_env_steps"], o["max_cost"], max_time),
        gen=GenParams(temperature=o["temperature"], max_tokens=o["max_tokens"], timeout_s=o["llm_timeout"],
                      api_base=o["api_base"], retry_for_s=parse_duration(o["retry_for"])),
        limits=Limits(act_timeout_s=o["act_timeout"]), **options, **extra)


def finish(result) -> None:
    """Print how a run ended and where its folder is; exit with the status's code."""
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
    if result.status in ("interrupted", "failed"):
        err.print(f"continue it with: promptpo resume {result.run_dir.name} --out {result.run_dir.parent}",
                  markup=False)
    print(f"run folder: {result.run_dir}")
    sys.exit(EXIT_CODES.get(result.status, 1))


EXIT_CODES = {"completed": 0, "target_reached": 0, "budget_exhausted": 0, "answers_exhausted": 0,
              "failed": 1, "interrupted": 130}

def tuning_share(summary: dict) -> str:
    """'87,012 env steps in 60 evaluations (94% of the env steps this run spent)' (--tune-share caps tuning's part of
    --max-env-steps, or of all the run's env steps without it: promptpo.policy.tuning.share_text)."""
    steps, total = summary.get("tuning_env_steps") or 0, summary.get("env_steps") or 0
    share = f" ({steps / total:.0%} of the env steps this run spent)" if total else ""
    return f"{steps:,} env steps in {summary.get('tuning_evaluations', 0)} evaluations{share}"


def num(value, prefix: str = "") -> str:
    return "-" if value is None else f"{prefix}{value:.4g}" if isinstance(value, float) else f"{prefix}{value}"


def seed_progress(err):
    """One bar per seed: env steps spent of the budget, and the score so far."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[score]}"), console=err)
