"""A toy task kind for the engine's tests, written as a new kind would be: the program defines ``guess()``, and
its score is how close that number comes to 42. ``answers`` writes scripted answers that guess given numbers."""

from __future__ import annotations

from dataclasses import dataclass

from conftest import scripted

from promptpo.candidate import UNRANKED, Candidate
from promptpo.engine.task import TaskKind
from promptpo.envspec import Target
from promptpo.outcome import Outcome
from promptpo.prompting import PromptBook


@dataclass
class Guess:
    """A result: how close the program's number came to 42."""

    value: float | None
    env_steps: int = 10

    @property
    def outcome(self) -> Outcome:
        return Outcome.OK if self.value is not None else Outcome.CRASHED

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def problem(self) -> str:
        return "" if self.ok else "NUMBER is not defined"

    @property
    def episodes_run(self) -> int:
        return 1

    @property
    def mean_return(self) -> float | None:
        return None if self.value is None else -abs(self.value - 42)

    success_rate = None

    def rank_key(self) -> tuple[float, float]:
        return (0.0, self.mean_return) if self.ok else UNRANKED


class GuessTask(TaskKind):
    """A third task kind, written as a new kind would be: the engine needs nothing else."""

    name = "guess"
    entry = "guess"
    env_id = "toy/guess"
    target = Target("mean_return", 0.0)

    def __init__(self):
        self.calls: dict[str, int] = {}
        self.prompts = PromptBook("schedule_", {"env": {"title": "Guess", "id": "toy/guess", "description": "42"},
                                                "steps": 10, "hp_source": "-", "hyperparameters": "{}",
                                                "eval_points": 1, "criterion": "closeness to 42", "target": ""},
                                  {"every": 1, "bounds": "-", "allowed_imports": "math", "timeout_s": "1",
                                   "forbidden_builtins": "`eval`"},
                                  self.describe)

    def count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def describe(self, c: Candidate, labels):
        from promptpo.prompting import Recap

        return Recap(c.id, c.parent, c.kind, str(c.outcome), "score", c.code, labels=list(labels))

    def worst_case_steps(self) -> int:
        return 10

    def evaluate(self, code, limits, progress, best=None):
        self.count("evaluate")
        scope: dict = {}
        exec(code, scope)  # a toy: the real kinds evaluate in the sandbox
        return Guess(scope["guess"]())

    def evaluation_plan(self):
        return "42"

    def result_from_record(self, record):
        return None

    def record_fields(self, candidate):
        self.count("record_fields")
        return {"score": None if not candidate.scored else {"mean_return": candidate.evaluation.mean_return}}

    def score_line(self, result):
        return f"off by {-result.mean_return:g}"

    def best_file(self, candidate, run_id):
        return candidate.code

    def summary_fields(self, best):
        return {"best_score": best.evaluation.mean_return if best else None}

    def reached(self, best):
        return best is not None and best.evaluation.mean_return == 0.0

    def after_round(self, engine, round_):
        self.count("after_round")


def answers(tmp_path, *numbers) -> str:
    return scripted(tmp_path, *(f"```python\ndef guess():\n    return {n}\n```" for n in numbers))
