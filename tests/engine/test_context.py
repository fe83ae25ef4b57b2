"""The RunContext (promptpo.engine.context): what a task kind may ask of the engine, which the Engine provides; a
kind that drives its own run asks through it alone, and its spending is counted like an evaluation's."""

from __future__ import annotations

import json

from conftest import OnlyContext, read_json
from guess_kind import GuessTask, answers
from promptpo.candidate import Candidate
from promptpo.engine.config import RunConfig
from promptpo.engine.context import RunContext
from promptpo.engine.run import Engine
from promptpo.engine.store import RunStore
from promptpo.extract import extract
from promptpo.llm import make_backend
from promptpo.llm.base import GenParams, Message
from promptpo.prompting import Prompt


class OwnRounds(GuessTask):
    """A kind that is not round-based: it asks, scores and records through its context itself."""

    def drive(self, run: RunContext) -> None:
        run = OnlyContext(run)
        for round_ in range(2):
            run.check_budgets()
            completion, call, _ = run.ask(Prompt("first", (Message("user", "A number near 42?"),)), round_)
            program = extract(completion.text, self.entry, run.config.gate)
            result = run.evaluate(program.code, f"scoring round {round_}")
            id_, index = run.new_slot(round_)
            run.record(Candidate(id_, round_, index, "initial", None, call, program, result))
        run.in_flight(2)  # work of its own, shown while it goes ...
        run.spent(3)  # ... and counted when it is done
        run.event("own_rounds", candidates=len(run.history), env_steps=run.state.env_steps)
        run.tell("own_rounds", f"{run.state.env_steps} env steps")

    def recorded(self, run: RunContext, candidate: Candidate) -> None:
        run = OnlyContext(run)
        run.write_text("recorded.txt", f"{candidate.id} after {run.steps_taken} env steps\n")


def engine_for(tmp_path, *numbers: int) -> Engine:
    return Engine(OwnRounds(), RunConfig(env="toy/guess"), make_backend(answers(tmp_path, *numbers), GenParams()),
                  RunStore.create(tmp_path, "run"))


def test_the_engine_provides_the_context(tmp_path):
    assert isinstance(engine_for(tmp_path, 42), RunContext)


def test_a_task_using_only_the_context_drives_a_run(tmp_path):
    engine = engine_for(tmp_path, 40, 41)
    state = engine.execute()
    assert state.status == "completed" and state.best.id == "r01c0"
    assert state.env_steps == 10 + 10 + 3 and state.in_flight_steps == 0  # its own 3 counted, nothing left in flight
    root = engine.store.root
    summary = read_json(root / "summary.json")
    assert summary["env_steps"] == 23 and summary["llm_calls"] == 2 and summary["candidates"] == 2
    assert summary["best_score"] == -1
    events = [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
    assert [e["id"] for e in events if e["event"] == "candidate"] == ["r00c0", "r01c0"]
    assert next(e for e in events if e["event"] == "own_rounds")["env_steps"] == 23
    assert (root / "recorded.txt").read_text() == "r01c0 after 20 env steps\n"
    assert state.last == "23 env steps"


def test_a_task_reaches_nothing_else_of_the_engine(tmp_path):
    run = OnlyContext(engine_for(tmp_path, 42))
    for member in ("store", "task", "backend", "lock", "save", "execute"):
        try:
            getattr(run, member)
        except AttributeError:
            continue
        raise AssertionError(f"{member} is reachable through the context")
