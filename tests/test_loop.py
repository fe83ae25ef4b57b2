"""The loop through the Python API: budgets, stop reasons, refinement and reproducibility."""

from __future__ import annotations

import json
import time

import pytest
from conftest import scripted

import promptpo
from promptpo.policy.config import OptimizeConfig
from promptpo.envs import load_spec
from promptpo.errors import BackendError
from promptpo.engine.run import Engine
from promptpo.isolation.process import ProcessSandbox
from promptpo.llm.base import Backend, Completion, Request
from promptpo.policy.task import PolicyTask
from promptpo.engine.store import RunStore

GOOD = "```python\ndef act(obs):\n    x, v, a, w = obs\n    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)\n```"
WEAK = "```python\ndef act(obs):\n    return 1\n```"
NOISY = "```python\nimport numpy as np\ndef act(obs):\n    return int(obs[2] + 0.3 * np.random.randn() > 0)\n```"


def optimize(tmp_path, answers, **options):
    return promptpo.optimize("gymnasium/CartPole-v1", scripted(tmp_path, *answers), out=tmp_path / "runs", **options)


def test_api_returns_the_best_policy_and_its_paths(tmp_path):
    result = optimize(tmp_path, [WEAK, GOOD], rounds=1, candidates=2)
    assert result.status == "target_reached" and result.best_candidate == "r00c1"
    assert result.score >= 475 and result.best_path.read_text().endswith(result.best_code)
    assert result.summary["llm_calls"] == 2 and result.summary["candidates"] == 2


def test_llm_call_budget(tmp_path):
    result = optimize(tmp_path, [WEAK] * 10, rounds=5, candidates=2, max_llm_calls=3)
    assert result.status == "budget_exhausted" and "LLM call budget" in result.reason
    assert result.summary["llm_calls"] == 3


def test_env_step_budget_is_never_exceeded(tmp_path):
    result = optimize(tmp_path, [GOOD] * 5, rounds=5, candidates=1, episodes=2, target=1000, max_env_steps=2500)
    assert result.status == "budget_exhausted" and "env-step budget" in result.reason
    assert result.summary["env_steps"] == 2000  # a third candidate could need 1000 more


def test_the_repair_prompt_shows_an_answer_no_program_was_read_from(tmp_path):
    prose = "I would balance the pole by pushing towards the side it leans to. ~~~python act = 1 ~~~"
    result = optimize(tmp_path, [prose, GOOD], rounds=1, candidates=1)
    assert result.best_candidate == "r00c1"
    repair = (result.run_dir / "llm" / "0002.prompt.md").read_text()
    assert "No program could be read from the answer" in repair and prose in repair
    assert "```python\n\n```" not in repair  # no empty block that reads as an empty program


def test_refinement_prompt_carries_the_history(tmp_path):
    result = optimize(tmp_path, [WEAK, WEAK, GOOD], rounds=3, candidates=1)
    assert result.best_candidate == "r02c0"
    refine = (result.run_dir / "llm" / "0003.prompt.md").read_text()
    assert "Improve on candidate" in refine and "### Candidate r00c0" in refine and "### Candidate r01c0" in refine
    record = json.loads((result.run_dir / "candidates" / "r01c0.json").read_text())
    assert record["kind"] == "refine" and record["parent"] == "r00c0"


def test_runs_are_reproducible_given_the_same_answers(tmp_path):
    # the same seed and the same run secret (run.json keeps it, so a re-run of a recorded run has it)
    first = optimize(tmp_path / "a", [NOISY], rounds=1, candidates=1, seed=5, salt="s")
    second = optimize(tmp_path / "b", [NOISY], rounds=1, candidates=1, seed=5, salt="s")
    other = optimize(tmp_path / "c", [NOISY], rounds=1, candidates=1, seed=6, salt="s")

    def returns(result):
        record = json.loads((result.run_dir / "candidates" / "r00c0.json").read_text())
        return [e["episode_return"] for e in record["evaluation"]["episodes"]]

    assert returns(first) == returns(second) != returns(other)


class FakeBackend(Backend):
    """A backend double for what scripted answers cannot show: cost, slowness, failures."""

    name = "fake"

    def __init__(self, answers, cost=0.0, delay=0.0, fail_at=None, error=None):
        super().__init__("fake-model")
        self.answers, self.cost, self.delay, self.fail_at, self.error = answers, cost, delay, fail_at, error
        self.calls = 0

    def complete(self, request: Request) -> Completion:
        self.calls += 1
        if request.call_index == self.fail_at:
            raise self.error
        time.sleep(self.delay)
        return Completion(self.answers[(request.call_index - 1) % len(self.answers)], "fake-model",
                          prompt_tokens=100, completion_tokens=50, cost_usd=self.cost)

    def estimate_cost(self, prompt_chars, max_tokens):
        return self.cost


def make_run(tmp_path, backend, **config):
    spec = load_spec("gymnasium/CartPole-v1")
    cfg = OptimizeConfig(env=spec.id, model="fake", out=tmp_path, **config)
    store = RunStore.create(tmp_path, "run")
    store.write_json("run.json", {"id": "run"})
    return Engine(PolicyTask(cfg, spec, ProcessSandbox()), cfg, backend, store)


def test_cost_budget_stops_before_a_call_that_could_exceed_it(tmp_path):
    from promptpo.policy.config import Budgets

    backend = FakeBackend([WEAK], cost=0.4)
    run = make_run(tmp_path, backend, rounds=5, candidates=2, budgets=Budgets(max_cost=1.0))
    state = run.execute()
    assert state.status == "budget_exhausted" and "cost budget" in state.reason
    assert backend.calls == 2 and state.cost_usd == pytest.approx(0.8)
    summary = json.loads((run.store.root / "summary.json").read_text())
    assert summary["cost_usd"] == pytest.approx(0.8) and summary["prompt_tokens"] == 200


def test_time_budget(tmp_path):
    from promptpo.policy.config import Budgets

    run = make_run(tmp_path, FakeBackend([WEAK], delay=0.4), rounds=20, candidates=2, budgets=Budgets(max_time=1.0))
    started = time.monotonic()
    state = run.execute()
    assert state.status == "budget_exhausted" and "time budget" in state.reason
    assert time.monotonic() - started < 3


def test_ctrl_c_keeps_what_was_recorded(tmp_path):
    run = make_run(tmp_path, FakeBackend([WEAK], fail_at=2, error=KeyboardInterrupt()), rounds=3, candidates=1)
    state = run.execute()
    assert state.status == "interrupted" and state.candidates == 1
    summary = json.loads((run.store.root / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["best_candidate"] == "r00c0"
    assert (run.store.root / "llm" / "0002.prompt.md").exists()  # the prompt was recorded before the call


def test_a_fatal_backend_error_ends_the_run_cleanly(tmp_path):
    error = BackendError("the provider rejected the API key (HTTP 401)", kind="auth")
    run = make_run(tmp_path, FakeBackend([WEAK], fail_at=1, error=error), rounds=3, candidates=1)
    state = run.execute()
    assert state.status == "failed" and "HTTP 401" in state.reason
    events = [json.loads(line) for line in (run.store.root / "events.jsonl").read_text().splitlines()]
    assert events[-2]["event"] == "llm_error" and events[-2]["kind"] == "auth"
    assert events[-1]["event"] == "run_end" and events[-1]["status"] == "failed"


def test_an_answer_that_arrives_after_the_time_budget_is_kept_unevaluated(tmp_path):
    from promptpo.policy.config import Budgets

    run = make_run(tmp_path, FakeBackend([WEAK], delay=1.2), rounds=3, candidates=1, budgets=Budgets(max_time=1.0))
    state = run.execute()
    assert state.status == "budget_exhausted" and state.llm_calls == 1 and state.env_steps == 0
    record = json.loads((run.store.root / "candidates" / "r00c0.json").read_text())
    assert record["outcome"] == "not_evaluated" and record["evaluation"] is None
    assert record["error"] == "time budget of 1 s used up"  # why, as the run's status says
