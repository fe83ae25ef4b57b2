"""The engine's budgets: what one more call or evaluation may cost, reserved before it starts.

Calls are counted, cost is held at its worst case (the prompt as sent plus --max-tokens at the model's
price) and env steps at each evaluation's worst case, while calls and evaluations are in flight; what a
slot still holds is given back when it is recorded.
"""

from __future__ import annotations

import dataclasses

from promptpo.engine.state import StopRun
from promptpo.engine.wave import Pending
from promptpo.outcome import RunStatus


class Budgeted:
    """Mixed into the Engine: reads ``config``, ``state``, ``task``, ``backend`` and ``lock``, and keeps
    ``reserved_steps`` and ``reserved_cost``."""

    def check_budgets(self, llm: bool = True, prompt_chars: int = 0) -> None:
        """Raise StopRun unless one more evaluation (and with ``llm`` one more call) fits next to what was spent
        and what calls and evaluations in flight hold."""
        b, s = self.config.budgets, self.state
        self._check_time()
        worst_steps = self.task.worst_case_steps()
        held = s.env_steps + self.reserved_steps
        if b.max_env_steps is not None and held + worst_steps > b.max_env_steps:
            raise StopRun(RunStatus.BUDGET_EXHAUSTED, f"env-step budget: {held} used or held of {b.max_env_steps}, "
                          f"and a candidate may need {worst_steps} more")
        if not llm:
            return
        if b.max_llm_calls is not None and self.uses_prompts and s.llm_sent >= b.max_llm_calls:
            raise StopRun(RunStatus.BUDGET_EXHAUSTED, f"LLM call budget of {b.max_llm_calls} used up")
        if b.max_cost is not None:
            estimate = self._worst_cost(prompt_chars)
            spent = s.cost_usd + self.reserved_cost
            if spent + estimate > b.max_cost:
                raise StopRun(RunStatus.BUDGET_EXHAUSTED, f"cost budget: ${spent:.4f} spent or held of "
                              f"${b.max_cost:g}, and the next call may cost up to ${estimate:.4f}")

    def _check_time(self) -> None:
        b = self.config.budgets
        if b.max_time is not None and self.state.elapsed >= b.max_time:
            raise StopRun(RunStatus.BUDGET_EXHAUSTED, f"time budget of {b.max_time:g} s used up")

    def _worst_cost(self, prompt_chars: int) -> float:
        """What the next call may cost at most: the prompt as sent plus --max-tokens at the model's price."""
        return self.backend.estimate_cost(prompt_chars, self.config.gen.max_tokens) or 0.0

    def _reserve(self, pending: Pending) -> None:
        with self.lock:
            pending.steps_reserved = self.task.worst_case_steps()
            pending.cost_reserved = (self._worst_cost(pending.prompt.chars)
                                     if self.config.budgets.max_cost is not None else 0.0)
            self.reserved_steps += pending.steps_reserved
            self.reserved_cost += pending.cost_reserved

    def release(self, pending: Pending) -> None:
        """Give back what a slot still holds (idempotent)."""
        with self.lock:
            self.reserved_steps -= pending.steps_reserved
            self.reserved_cost -= pending.cost_reserved
            pending.steps_reserved, pending.cost_reserved = 0, 0.0

    def _deadline(self) -> float | None:
        b = self.config.budgets
        return None if b.max_time is None else self.state.started + b.max_time

    def _limits(self):
        b = self.config.budgets
        if b.max_time is None:
            return self.config.limits
        left = max(1.0, b.max_time - self.state.elapsed)
        return dataclasses.replace(self.config.limits,
                                   candidate_wall_s=min(self.config.limits.candidate_wall_s, left))
