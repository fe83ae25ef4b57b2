"""Reading a finished (or interrupted) run folder: its records, candidates and LLM calls."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from promptpo.errors import RunStoreError


def score_text(record: dict) -> str:
    """'mean return 4866.67 ± 21.92, success rate 1.00' for a candidate record, or why there is none."""
    score = record.get("score")
    if not score:
        return f"no score ({record.get('outcome', '?')})"
    text = f"mean return {score['mean_return']:.2f} ± {score['std_return']:.2f}"
    return text + (f", success rate {score['success_rate']:.2f}" if score.get("success_rate") is not None else "")


class RunFolder:
    def __init__(self, path: Path):
        self.path = path
        self.meta = self._json("run.json")
        if not isinstance(self.meta, dict) or "env" not in self.meta:
            raise RunStoreError(f"{path / 'run.json'} is not a promptpo run record", "the run folder is corrupt")

    @classmethod
    def find(cls, run: str, out: Path) -> RunFolder:
        for candidate in (Path(run), out / run):
            if (candidate / "run.json").is_file():
                return cls(candidate)
        raise RunStoreError(f"no run folder {run!r} (looked in . and {out})", "run `promptpo runs` to list runs")

    def _json(self, rel: str, required: bool = True) -> Any:
        path = self.path / rel
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if required:
                raise RunStoreError(f"{path} is missing", "the run folder is incomplete") from None
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunStoreError(f"{path} is not valid JSON ({err})", "the run folder is corrupt") from None

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "promptpo")

    @cached_property
    def summary(self) -> dict:
        return self._json("summary.json", required=False) or {}

    @cached_property
    def candidates(self) -> list[dict]:
        """Candidate records in the order they were made."""
        records = [self._json(f"candidates/{p.name}") for p in (self.path / "candidates").glob("*.json")] \
            if (self.path / "candidates").is_dir() else []
        return sorted(records, key=lambda r: (r.get("llm_call") or 0, r["id"]))

    def candidate(self, candidate_id: str | None = None) -> dict:
        """A candidate by id; by default the best one."""
        wanted = candidate_id or self.summary.get("best_candidate")
        if wanted is None:
            raise RunStoreError(f"run {self.path.name} has no scored candidate", "name one explicitly")
        for record in self.candidates:
            if record["id"] == wanted:
                return record
        known = ", ".join(r["id"] for r in self.candidates) or "none"
        raise RunStoreError(f"no candidate {wanted!r} in run {self.path.name}", f"candidates: {known}")

    def code(self, candidate_id: str) -> str:
        path = self.path / "candidates" / f"{candidate_id}.py"
        if not path.is_file():
            raise RunStoreError(f"{path} is missing", "the run folder is incomplete")
        return path.read_text(encoding="utf-8")

    def llm_text(self, call: int, part: str) -> str:
        """part: prompt.md or response.md"""
        path = self.path / "llm" / f"{call:04d}.{part}"
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def llm_messages(self, call: int) -> list[dict]:
        return self._json(f"llm/{call:04d}.messages.json", required=False) or []

    def events(self) -> list[dict]:
        path = self.path / "events.jsonl"
        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")  # what the writer calls a line (splitlines also breaks on U+2028)
        if lines and lines[-1] == "":
            lines.pop()
        events = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                if number == len(lines) and not text.endswith("\n"):
                    break  # a line cut short by a kill: the event never finished
                raise RunStoreError(f"{path}:{number} is not JSON", "the run folder is corrupt") from None
        return events
