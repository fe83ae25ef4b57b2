"""The RunContext (promptpo.engine.context): what a task kind may ask of the engine, which the Engine provides; a
kind that drives its own run asks through it alone, and its spending is counted like an evaluation's."""

from __future__ import annotations

import json
from dataclasses import dataclass

from conftest import OnlyContext, read_json
from promptpo.candidate import UNRANKED, Candidate
from promptpo.engine.config import RunConfig
from promptpo.engine.context import RunContext
from promptpo.engine.run import Engine
from promptpo.engine.store import RunStore
from promptpo.engine.task import TaskKind
from promptpo.extract import check_program
from promptpo.llm import make_backend
from promptpo.llm.base import GenParams, Message
from promptpo.outcome import Outcome
from promptpo.prompting import Prompt


@dataclass
class OffBy:
    """How far the program's number is from 7."""

    value: float
    env_steps: int = 5
    outcome: Outcome = Outcome.OK
    ok = True
    problem = ""
    episodes_run = 1
    complete = True
    success_rate = None

    @property
    def mean_return(self) -> float:
        return -abs(self.value - 7)

    def rank_key(self) -> tuple[float, float]:
        return (0.0, self.mean_return) if self.ok else UNRANKED


class Seven(TaskKind):
    """A kind that is not round-based: it asks, scores and records through its context itself."""

    name = "seven"
    entry = "guess"
    env_id = "toy/seven"

    def drive(self, run: RunContext) -> None:
        run = OnlyContext(run)
        for round_ in range(2):
            run.check_budgets()
            completion, call, _ = run.ask(Prompt("first", (Message("user", "A number near 7?"),)), round_)
            code = completion.text
            result = run.evaluate(code, f"scoring round {round_}")
            id_, index = run.new_slot(round_)
            run.record(Candidate(id_, round_, index, "initial", None, call,
                                 check_program(code, self.entry, run.config.gate), result))
        run.in_flight(2)  # work of its own, shown while it goes ...
        run.spent(3)  # ... and counted when it is done
        run.event("seven", candidates=len(run.history), env_steps=run.state.env_steps)
        run.tell("seven", f"{run.state.env_steps} env steps")

    def recorded(self, run: RunContext, candidate: Candidate) -> None:
        run = OnlyContext(run)
        run.write_text("seven.txt", f"{candidate.id} after {run.steps_taken} env steps\n")

    def worst_case_steps(self) -> int:
        return 5

    def evaluate(self, code, limits, progress, best=None):
        scope: dict = {}
        exec(code, scope)  # a toy: the real kinds evaluate in the sandbox
        progress(5, "done")
        return OffBy(scope["guess"]())

    def evaluation_plan(self):
        return "7"

    def result_from_record(self, record):
        return None

    def record_fields(self, candidate):
        return {"score": {"mean_return": candidate.evaluation.mean_return}}

    def score_line(self, result):
        return f"off by {-result.mean_return:g}"

    def best_file(self, candidate, run_id):
        return candidate.code

    def summary_fields(self, best):
        return {"best_score": best.evaluation.mean_return if best else None}


def engine_for(tmp_path, *numbers: int) -> Engine:
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"content": f"def guess():\n    return {n}\n"}) + "\n" for n in numbers))
    return Engine(Seven(), RunConfig(env="toy/seven"), make_backend(f"scripted:{answers}", GenParams()),
                  RunStore.create(tmp_path, "run"))


def test_the_engine_provides_the_context(tmp_path):
    assert isinstance(engine_for(tmp_path, 7), RunContext)


def test_a_task_using_only_the_context_drives_a_run(tmp_path):
    engine = engine_for(tmp_path, 4, 8)
    state = engine.execute()
    assert state.status == "completed" and state.best.id == "r01c0"
    assert state.env_steps == 5 + 5 + 3 and state.in_flight_steps == 0  # its own 3 counted, nothing left in flight
    root = engine.store.root
    summary = read_json(root / "summary.json")
    assert summary["env_steps"] == 13 and summary["llm_calls"] == 2 and summary["candidates"] == 2
    assert summary["best_score"] == -1
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    assert [e["id"] for e in events if e["event"] == "candidate"] == ["r00c0", "r01c0"]
    assert next(e for e in events if e["event"] == "seven")["env_steps"] == 13
    assert (root / "seven.txt").read_text() == "r01c0 after 10 env steps\n"
    assert state.last == "13 env steps"


def test_a_task_reaches_nothing_else_of_the_engine(tmp_path):
    run = OnlyContext(engine_for(tmp_path, 7))
    for member in ("store", "task", "backend", "lock", "save", "execute"):
        try:
            getattr(run, member)
        except AttributeError:
            continue
        raise AssertionError(f"{member} is reachable through the context")
