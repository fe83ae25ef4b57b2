"""What the CLI shows while a run goes: a live rich table on a terminal, one line per candidate otherwise."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.table import Table

from promptpo.llm.tokens import usage_text
from promptpo.loop import RunState


def _money(state: RunState) -> str:
    return f"${state.cost_usd:.4f}" if state.cost_known else f"${state.cost_usd:.4f} + unpriced calls"


class RunDisplay:
    def __init__(self, console: Console, env: str, model: str, rounds: int, candidates: int, has_success: bool):
        self.console, self.env, self.model = console, env, model
        self.rounds, self.candidates, self.has_success = rounds, candidates, has_success
        self.live: Live | None = None
        self.state = RunState()

    def __rich__(self) -> Table:
        """Rendered on every refresh, so the elapsed time ticks while the model or the simulator works."""
        return self._table(self.state)

    def __enter__(self) -> RunDisplay:
        if self.console.is_terminal:
            self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        else:
            self.console.print(f"promptpo: optimizing {self.env} with {self.model}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, kind: str, state: RunState) -> None:
        self.state = state
        if self.live is not None:
            self.live.refresh()
        elif kind == "candidate":
            self.console.print(f"[round {state.round}] {state.last} | best {self._best(state)} | "
                               f"env steps {state.env_steps} | LLM calls {state.llm_calls}", highlight=False, markup=False)

    def _best(self, state: RunState) -> str:
        best = state.best
        if best is None:
            return "none yet"
        ev = best.evaluation
        text = f"{best.id} return {ev.mean_return:.2f}"
        if self.has_success and ev.success_rate is not None:
            text += f", success {ev.success_rate:.2f}"
        return text

    def _table(self, state: RunState) -> Table:
        table = Table(title=f"promptpo · {self.env} · {self.model}", show_header=False, expand=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("round", f"{state.round + 1} of {self.rounds} ({self.candidates} candidates each)")
        table.add_row("candidates", str(state.candidates))
        table.add_row("best", self._best(state))
        table.add_row("env steps", f"{state.env_steps:,}")
        table.add_row("LLM calls", str(state.llm_calls))
        table.add_row("tokens", usage_text(vars(state)))
        table.add_row("cost", _money(state))
        table.add_row("elapsed", f"{state.elapsed:.0f} s")
        table.add_row("now", state.last or "starting")
        return table
