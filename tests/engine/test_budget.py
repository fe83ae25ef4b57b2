"""promptpo.engine.budget: what one more call or evaluation may cost, checked and reserved before it starts."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from promptpo.engine.budget import Budgeted
from promptpo.engine.config import Budgets, RunConfig
from promptpo.engine.state import RunState, StopRun
from promptpo.engine.wave import Pending
from promptpo.isolation.base import Limits
from promptpo.llm.base import GenParams
from promptpo.outcome import RunStatus


class PricedBackend:
    """A backend whose worst-case call costs one cent per 1,000 prompt characters plus max_tokens at $1e-6."""

    def __init__(self, priced: bool = True):
        self.priced = priced
        self.asked: list[tuple[int, int]] = []

    def estimate_cost(self, prompt_chars: int, max_tokens: int) -> float | None:
        self.asked.append((prompt_chars, max_tokens))
        return prompt_chars / 100_000 + max_tokens * 1e-6 if self.priced else None


class Host(Budgeted):
    """What the Engine gives the mixin: config, state, task, backend, lock and the two reservations."""

    def __init__(self, worst_steps: int = 100, uses_prompts: bool = True, backend=None, limits: Limits | None = None,
                 **budgets):
        self.config = RunConfig(env="toy/guess", budgets=Budgets(**budgets), gen=GenParams(max_tokens=1000),
                                limits=limits or Limits())
        self.state = RunState()
        self.task = SimpleNamespace(worst_case_steps=lambda: worst_steps)
        self.backend = backend or PricedBackend()
        self.uses_prompts = uses_prompts
        self.lock = threading.RLock()
        self.reserved_steps, self.reserved_cost = 0, 0.0


def pending(chars: int = 1000) -> Pending:
    return Pending(slot=0, prompt=SimpleNamespace(chars=chars), request=None, call=1, answered=False)


def stopped(host: Host, **kwargs) -> StopRun:
    with pytest.raises(StopRun) as caught:
        host.check_budgets(**kwargs)
    assert caught.value.status is RunStatus.BUDGET_EXHAUSTED
    return caught.value


def test_no_budgets_never_stop():
    host = Host()
    host.state.env_steps, host.state.llm_sent, host.state.cost_usd = 10**9, 10**6, 1e6
    host.check_budgets(prompt_chars=10**6)  # nothing raised


def test_an_evaluation_starts_only_if_its_worst_case_fits_next_to_what_was_spent():
    host = Host(worst_steps=100, max_env_steps=1000)
    host.state.env_steps = 900
    host.check_budgets()  # 900 + 100 == 1000: fits exactly
    host.state.env_steps = 901
    stop = stopped(host)
    assert stop.reason == "env-step budget: 901 used or held of 1000, and a candidate may need 100 more"


def test_steps_held_by_evaluations_in_flight_count_against_the_env_step_budget():
    host = Host(worst_steps=100, max_env_steps=250)
    host.state.env_steps = 50
    host.check_budgets()
    host._reserve(pending())
    assert host.reserved_steps == 100
    host.check_budgets()  # 50 + 100 held + 100 == 250
    host._reserve(pending())
    assert "250 used or held of 250" in stopped(host).reason


def test_the_env_step_budget_is_checked_even_without_a_call():
    host = Host(worst_steps=10, max_env_steps=5)
    assert "a candidate may need 10 more" in stopped(host, llm=False).reason


def test_the_call_budget_counts_calls_sent():
    host = Host(max_llm_calls=2)
    host.state.llm_sent = 1
    host.check_budgets()
    host.state.llm_sent = 2
    assert stopped(host).reason == "LLM call budget of 2 used up"
    host.check_budgets(llm=False)  # an evaluation (constant tuning) needs no call


def test_a_proposer_that_reads_no_prompts_is_not_held_to_the_call_budget():
    host = Host(max_llm_calls=1, uses_prompts=False)
    host.state.llm_sent = 5
    host.check_budgets()  # nothing raised


def test_a_call_is_made_only_if_its_worst_case_cost_fits():
    backend = PricedBackend()
    host = Host(backend=backend, max_cost=0.02)
    host.check_budgets(prompt_chars=1000)  # 0.01 + 0.001
    assert backend.asked == [(1000, 1000)]  # the prompt as sent and --max-tokens
    host.state.cost_usd = 0.009
    host.check_budgets(prompt_chars=1000)  # 0.009 + 0.011 == 0.02: fits exactly
    host.state.cost_usd = 0.0091
    stop = stopped(host, prompt_chars=1000)
    assert stop.reason == "cost budget: $0.0091 spent or held of $0.02, and the next call may cost up to $0.0110"


def test_cost_held_by_calls_in_flight_counts_against_the_cost_budget():
    host = Host(max_cost=0.03)
    host._reserve(pending(chars=1000))
    assert host.reserved_cost == pytest.approx(0.011)
    host.check_budgets(prompt_chars=1000)  # 0.011 held + 0.011 <= 0.03
    host._reserve(pending(chars=1000))
    assert "$0.0220 spent or held" in stopped(host, prompt_chars=1000).reason


def test_an_unknown_price_checks_only_the_cost_spent():
    host = Host(backend=PricedBackend(priced=False), max_cost=1.0)
    host.state.cost_usd = 0.99
    host.check_budgets(prompt_chars=10**7)  # the worst case is unknown: only what was spent counts
    host.state.cost_usd = 1.01
    assert "next call may cost up to $0.0000" in stopped(host).reason


def test_the_time_budget_stops_calls_and_evaluations():
    host = Host(max_time=30)
    host.check_budgets()
    host.state.started = time.monotonic() - 31
    assert stopped(host).reason == "time budget of 30 s used up"
    assert stopped(host, llm=False).reason == "time budget of 30 s used up"


def test_reserve_holds_worst_cases_and_release_gives_them_back_once():
    host = Host(worst_steps=70, max_cost=5.0)
    a, b = pending(chars=2000), pending(chars=0)
    host._reserve(a)
    host._reserve(b)
    assert (a.steps_reserved, b.steps_reserved, host.reserved_steps) == (70, 70, 140)
    assert a.cost_reserved == pytest.approx(0.021) and b.cost_reserved == pytest.approx(0.001)
    host.release(a)
    host.release(a)  # idempotent
    assert host.reserved_steps == 70 and host.reserved_cost == pytest.approx(0.001)
    assert (a.steps_reserved, a.cost_reserved) == (0, 0.0)
    host.release(b)
    assert host.reserved_steps == 0 and host.reserved_cost == pytest.approx(0.0)


def test_no_cost_is_held_without_a_cost_budget():
    backend = PricedBackend()
    host = Host(backend=backend)
    slot = pending(chars=5000)
    host._reserve(slot)
    assert slot.cost_reserved == 0.0 and host.reserved_cost == 0.0 and slot.steps_reserved == 100


def test_the_deadline_is_the_start_plus_the_time_budget():
    assert Host()._deadline() is None
    host = Host(max_time=60)
    assert host._deadline() == host.state.started + 60


def test_an_evaluation_s_wall_time_is_capped_at_the_time_left():
    limits = Limits(candidate_wall_s=600.0)
    assert Host(limits=limits)._limits() is limits  # no time budget: the configured limits
    host = Host(limits=limits, max_time=100)
    host.state.started = time.monotonic() - 40
    capped = host._limits()
    assert 59 <= capped.candidate_wall_s <= 60 and capped.act_timeout_s == limits.act_timeout_s
    assert limits.candidate_wall_s == 600.0  # the run's own limits are not changed
    host.state.started = time.monotonic() - 1000
    assert host._limits().candidate_wall_s == 1.0  # never less than a second
    assert Host(limits=Limits(candidate_wall_s=5.0), max_time=100)._limits().candidate_wall_s == 5.0
