"""What the CLI shows while a run goes: a live rich table on a terminal, one line per candidate otherwise.

Every run kind the engine drives shows the same table: round, candidates, the best so far, env steps
(with a bar when the run's total is known, e.g. a schedule run's trainings), LLM calls, tokens, cost,
elapsed time and what is happening now.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from promptpo.engine.state import RunState
from promptpo.llm.tokens import usage_text
from promptpo.text import visible


MAX_SHOWN = 8
"""In-flight calls and evaluations listed one per line."""


def _money(state: RunState) -> str:
    return f"${state.cost_usd:.4f}" if state.cost_known else f"${state.cost_usd:.4f} + unpriced calls"


def steps_text(state: RunState) -> str:
    """'4096/8192' (done of planned) or '4096', counting the evaluation in flight."""
    done = state.env_steps + state.in_flight_steps
    planned = state.env_steps_planned
    return f"{done}/{max(planned, done)}" if planned else str(done)


def calls_text(state: RunState) -> str:
    """'6', or '6 (+2 sent, no answer yet)' while calls are in flight (or when their answers never came)."""
    waiting = state.llm_sent - state.llm_calls
    return f"{state.llm_calls} (+{waiting} sent, no answer yet)" if waiting > 0 else str(state.llm_calls)


class RunDisplay:
    def __init__(self, console: Console, env: str, model: str, rounds: int | None, candidates: int | None,
                 has_success: bool, what: str = "optimizing", note: str = ""):
        self.console, self.env, self.model, self.what, self.note = console, env, model, what, note
        self.rounds, self.candidates, self.has_success = rounds, candidates, has_success
        self.live: Live | None = None
        self.state = RunState()

    def __rich__(self) -> Group | Table:
        """Rendered on every refresh, so the elapsed time ticks while the model or the simulator works."""
        return self._table(self.state)

    def __enter__(self) -> RunDisplay:
        if self.console.is_terminal:
            if self.note:  # above the live table, and kept when it is gone
                self._line(f"{self.model}: {self.note}")
            self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        else:
            self._line(f"promptpo: {self.what} {self.env} with {self.model}" + (f": {self.note}" if self.note else ""))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, kind: str, state: RunState) -> None:
        self.state = state
        if kind == "start":  # above the live table (or the first line of the log), before anything is spent
            self._line(f"run folder: {state.folder}")
        if kind == "tuning":  # a phase's one line, in the log however the display is drawn
            self._line(visible(state.last, keep_newlines=False))
        if self.live is not None:
            self.live.refresh()
        elif kind == "candidate" or (kind == "end" and not self.rounds):  # online runs have no candidates
            where = f"[round {state.round + 1}/{self.rounds}] " if self.rounds else ""
            self._line(f"{where}{visible(state.last, keep_newlines=False)} | best {self._best(state)} | "
                       f"env steps {steps_text(state)} | LLM calls {calls_text(state)}")

    def _line(self, text: str) -> None:
        """One line of the log: piped to a file, it stays one line however long (a terminal wraps it)."""
        self.console.print(Text(text), soft_wrap=not self.console.is_terminal)

    def _best(self, state: RunState) -> str:
        best = state.best
        if best is None:
            return "none yet"
        ev = best.evaluation
        text = f"{best.id} return {ev.mean_return:.2f}"
        if self.has_success and ev.success_rate is not None:
            text += f", success {ev.success_rate:.2f}"
        return text

    def _table(self, state: RunState) -> Group | Table:
        table = Table(title=f"promptpo · {self.env} · {self.model}", show_header=False, expand=False)
        table.add_column(style="bold")
        table.add_column()
        if self.rounds:
            table.add_row("round", f"{state.round + 1} of {self.rounds} ({self.candidates} candidates each)")
            table.add_row("candidates", str(state.candidates))
            table.add_row("best", self._best(state))
        table.add_row("env steps", steps_text(state))
        table.add_row("LLM calls", calls_text(state))
        table.add_row("tokens", usage_text(vars(state)))
        table.add_row("cost", _money(state))
        table.add_row("elapsed", f"{state.elapsed:.0f} s")
        flying = list(state.in_flight.values())
        if len(flying) > 1:  # a wave: every call and evaluation in flight, one line each
            table.add_row("in flight", Text("\n".join(visible(f, keep_newlines=False) for f in flying[:MAX_SHOWN])
                                            + (f"\n... and {len(flying) - MAX_SHOWN} more" if len(flying) > MAX_SHOWN
                                               else "")))
        else:
            table.add_row("now", Text(visible(state.last or "starting", keep_newlines=False)))
        if not state.env_steps_planned:
            return table
        done = state.env_steps + state.in_flight_steps
        return Group(table, ProgressBar(total=max(state.env_steps_planned, done), completed=done, width=60))
