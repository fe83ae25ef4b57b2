"""``scripted:PATH`` — prepared answers replayed in order (tests, demos, reproducing a run).

PATH is a folder of answer files (``001.md``, ``002.md``, ... taken in name order) or a JSONL
file with one ``{"content": "..."}`` per line. Call number k of the run (counted from 1, resumes
included) gets the k-th answer, so a replay is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

from promptpo.errors import AnswersExhausted, ConfigError
from promptpo.llm.base import Backend, Completion, GenParams, Request
from promptpo.llm.tokens import with_estimated_usage


def load_answers(path: Path) -> list[str]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ConfigError(f"scripted answers folder {path} is empty", "put answer files 001.md, 002.md, ... in it")
        return [p.read_text(encoding="utf-8") for p in files]
    if path.is_file():
        answers = []
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                answers.append(str(record["content"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ConfigError(f"{path}:{number} is not a JSON object with a 'content' field",
                                  'write one {"content": "..."} per line') from None
        if not answers:
            raise ConfigError(f"scripted answers file {path} holds no answers")
        return answers
    raise ConfigError(f"scripted answers not found: {path}", "give a folder of answer files or a .jsonl file")


class ScriptedBackend(Backend):
    name = "scripted"
    prefix = "scripted:PATH"

    @classmethod
    def from_model(cls, given: str, params: GenParams) -> ScriptedBackend:
        return cls(given)

    def __init__(self, path: str):
        super().__init__(f"scripted:{path}")
        self.path = Path(path).expanduser()
        self.answers = load_answers(self.path)

    def complete(self, request: Request) -> Completion:
        if not 1 <= request.call_index <= len(self.answers):
            raise AnswersExhausted(f"the scripted answers ran out after {len(self.answers)} answers ({self.path})")
        return with_estimated_usage(request, Completion(text=self.answers[request.call_index - 1], model=self.model))
