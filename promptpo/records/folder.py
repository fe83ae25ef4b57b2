"""The raw reader of a run folder: its run.json, events, candidates, LLM calls, curve and stored summary.

``Folder`` reads files and nothing more: it tolerates a last events.jsonl line cut short by a kill (the event
never finished), and what cannot be read at all (no run.json, a corrupt line in the middle of the log) is one
RunStoreError naming the file. It knows nothing of what the records mean: the summary with recovery, the facts
and the run's best are promptpo.records.run's ``RunFolder``, which every view opens.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any, Self

from promptpo.errors import RunStoreError
from promptpo.records.listing import run_folders

POLICY_KIND = "promptpo"
"""What run.json's ``kind`` says of a policy run (`promptpo optimize`). The policy kind was the only one when run
folders began, and took the tool's name; every policy run folder since holds "promptpo", so that value is read and
written as it is: another name would leave the folders on disk unreadable as policy runs, and unresumable."""
PROGRAM_KINDS = (POLICY_KIND, "schedule")
"""Run kinds whose candidates are programs (the rest are trainings: one learning curve, no candidates)."""


def score_text(record: dict) -> str:
    """'mean return 4866.67 ± 21.92, success rate 1.00' for a candidate record, or why there is none; a candidate
    the cascade stopped says over how many episodes."""
    score = record.get("score")
    if not score:
        return f"no score ({record.get('outcome', '?')})"
    text = f"mean return {score['mean_return']:.2f} ± {score.get('std_return') or 0.0:.2f}"
    text += f", success rate {score['success_rate']:.2f}" if score.get("success_rate") is not None else ""
    stage = (record.get("evaluation") or {}).get("stage")
    if stage and not stage.get("passed", True):
        text += f" (stopped after {stage['episodes']} of {stage['of']} episodes)"
    return text


class Folder:
    def __init__(self, path: Path):
        self.path = path
        self.meta = self.json("run.json", required=True)
        if not isinstance(self.meta, dict) or "env" not in self.meta:
            raise RunStoreError(f"{path / 'run.json'} is not a promptpo run record", "the run folder is corrupt")
        self.problems: list[str] = []
        """What was read around: a line cut short, a candidate record that is not JSON."""

    @classmethod
    def find(cls, run: str, out: Path) -> Self:
        """A run by folder, by its path under ``out``, or by its name anywhere under ``out`` (a bench's runs)."""
        for candidate in (Path(run), out / run):
            if (candidate / "run.json").is_file():
                return cls(candidate)
        named = [p for p in run_folders(out) if p.name == run] if "/" not in run else []
        if len(named) == 1:
            return cls(named[0])
        if len(named) > 1:
            raise RunStoreError(f"{len(named)} run folders are named {run!r} under {out}",
                                "give its path: " + ", ".join(str(p) for p in named[:3]))
        raise RunStoreError(f"no run folder {run!r} (looked in . and {out})", "run `promptpo runs` to list runs")

    # -- files ---------------------------------------------------------------------------
    def json(self, rel: str, required: bool = False) -> Any:
        """A JSON file of the folder; None when it is missing and not ``required``."""
        path = self.path / rel
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if required:
                raise RunStoreError(f"{path} is missing", "the run folder is incomplete") from None
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunStoreError(f"{path} is not valid JSON ({err})", "the run folder is corrupt") from None
        except RecursionError:
            raise RunStoreError(f"{path} is not valid JSON (nested too deep)", "the run folder is corrupt") from None
        except OSError as err:  # a folder where the file should be, no permission, ...
            raise unreadable(path, err) from None

    def lines(self, rel: str) -> list[dict]:
        """A JSON-lines file (events.jsonl, curve.jsonl): a last line cut short by a kill is left out (the
        event never finished, and ``problems`` says so); a bad line anywhere else is a corrupt folder."""
        path = self.path / rel
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as err:
            raise unreadable(path, err) from None
        lines = text.split("\n")  # what the writer calls a line (splitlines also breaks on U+2028)
        if lines and lines[-1] == "":
            lines.pop()
        found = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                if number == len(lines) and not text.endswith("\n"):
                    self._note(f"{rel}: its last line was cut short (left out)")
                    break
                raise RunStoreError(f"{path}:{number} is not JSON", "the run folder is corrupt") from None
            if isinstance(value, dict):
                found.append(value)
        return found

    def _note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    # -- what it is ----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.meta.get("kind", POLICY_KIND)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def has_programs(self) -> bool:
        return self.kind in PROGRAM_KINDS

    def events(self) -> list[dict]:
        """events.jsonl, read once (like ``candidates``): what the folder held when first asked."""
        return self._events

    @cached_property
    def _events(self) -> list[dict]:
        return self.lines("events.jsonl")

    def stored_summary(self) -> tuple[dict | None, str]:
        """summary.json as stored, or None and why it cannot be used (missing, corrupt, not a summary)."""
        try:
            summary = self.json("summary.json")
            why = "summary.json is missing" if summary is None else ""
        except RunStoreError as err:
            summary, why = None, f"summary.json is not valid JSON ({err.message.rpartition('(')[2].rstrip(')')})"
        if isinstance(summary, dict):
            return summary, ""
        return None, why or "summary.json holds no summary"

    @cached_property
    def candidates(self) -> list[dict]:
        """Candidate records in slot order (round, then index), whenever each landed."""
        records = []
        for path, record in self._records("candidates", "*.json"):
            if "id" in record:
                numbers(record, path, ("round", "index", "env_steps"))
                records.append(record)
        return sorted(records, key=slot)

    def candidate(self, candidate_id: str) -> dict:
        """A candidate by id."""
        for record in self.candidates:
            if record["id"] == candidate_id:
                return record
        known = ", ".join(r["id"] for r in self.candidates) or "none"
        raise RunStoreError(f"no candidate {candidate_id!r} in run {self.name}", f"candidates: {known}")

    def code(self, candidate_id: str) -> str:
        path = self.path / "candidates" / f"{candidate_id}.py"
        if not path.is_file():
            raise RunStoreError(f"{path} is missing", "the run folder is incomplete")
        return path.read_text(encoding="utf-8")

    def llm_text(self, call: int, part: str) -> str:
        """part: prompt.md or response.md"""
        path = self.path / "llm" / f"{call:04d}.{part}"
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def text(self, rel: str) -> str:
        """A text file of the folder (best.py, a report), or '' when it is missing."""
        path = self.path / rel
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""

    @property
    def model_zip(self) -> Path | None:
        """A training's network (Stable-Baselines3's model.zip), if it saved one."""
        path = self.path / "model.zip"
        return path if path.is_file() else None

    def llm_messages(self, call: int) -> list[dict]:
        try:
            return self.json(f"llm/{call:04d}.messages.json") or []
        except RunStoreError:
            return []

    @property
    def asks_a_model(self) -> bool:
        """Whether its llm/ records are a language model's calls (the offline proposer records its proposals
        there too, for resume, but asks no model)."""
        return self.meta.get("backend") != "offline"

    def calls(self) -> tuple[list[int], list[int]]:
        """Call numbers sent (a prompt recorded) and answered (an answer recorded), from llm/ (an offline run's
        proposals included: see ``asks_a_model``), each in order; read once (like ``candidates``)."""
        return self._calls

    @cached_property
    def _calls(self) -> tuple[list[int], list[int]]:
        folder = self.path / "llm"
        if not folder.is_dir():
            return [], []
        sent = sorted(int(p.name[:4]) for p in folder.glob("[0-9][0-9][0-9][0-9].prompt.md"))
        answered = sorted(int(p.name[:4]) for p in folder.glob("[0-9][0-9][0-9][0-9].response.md"))
        return sent, answered

    def call_record(self, call: int) -> dict | None:
        """llm/NNNN.json of one answered call (tokens, cost, latency, cache key); None when missing or unreadable."""
        try:
            record = self.json(f"llm/{call:04d}.json")
        except RunStoreError:
            self._note(f"llm/{call:04d}.json is not valid JSON (left out)")
            return None
        return record if isinstance(record, dict) else None

    def call_records(self) -> list[dict]:
        """llm/NNNN.json of every answered call (tokens, cost, latency), in call order."""
        return [record for _, record in self._records("llm", "[0-9][0-9][0-9][0-9].json")]

    def tuning_samples(self) -> list[dict]:
        """tuning/<evaluation key>.json of a run with --tune-constants: one record per tuning sample (fields as a
        candidate record's: key, outcome, env_steps, score, evaluation), in key order; one cut short by a kill is
        left out (and noted), so its sample is evaluated again on resume."""
        return [record for _, record in self._records("tuning", "*.json")]

    def _records(self, folder: str, pattern: str) -> list[tuple[Path, dict]]:
        """The JSON objects of ``folder``'s files matching ``pattern``, in name order, with their paths; a file that
        is not valid JSON (cut short by a kill) or holds no object is left out and noted."""
        found = []
        for path in sorted((self.path / folder).glob(pattern)) if (self.path / folder).is_dir() else []:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._note(f"{folder}/{path.name} is not valid JSON (left out)")
                continue
            if isinstance(record, dict):
                found.append((path, record))
            else:
                self._note(f"{folder}/{path.name} holds no record (left out)")
        return found

    def has_code(self, candidate_id: str) -> bool:
        """Whether the folder holds candidates/ID.py."""
        return (self.path / "candidates" / f"{candidate_id}.py").is_file()

    def curve(self) -> list[dict]:
        """curve.jsonl: a training's evaluations as measured (trainings and schedule runs)."""
        return self.lines("curve.jsonl")

    def verification(self, candidate_id: str) -> dict | None:
        """The latest `promptpo verify` record of a candidate."""
        folder = self.path / "verifications"
        files = sorted(folder.glob(f"{candidate_id}-*.json")) if folder.is_dir() else []
        return self.json(f"verifications/{files[-1].name}") if files else None


def unreadable(path: Path, err: OSError) -> RunStoreError:
    """The one line for a record that is there but cannot be read (a folder in its place, no permission, ...)."""
    return RunStoreError(f"{path} cannot be read ({err.strerror or type(err).__name__})", "the run folder is corrupt")


def finite(value: Any) -> bool:
    """A JSON number a float holds: not a bool, NaN or infinity, nor an integer of 400 digits (float() overflows)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def numbers(record: dict, path: Path, fields: tuple[str, ...]) -> None:
    """RunStoreError naming ``path`` when one of ``fields`` of a record is there but is not a number (valid JSON
    with a round of "x" would otherwise be a ValueError deep in a view)."""
    for name in fields:
        value = record.get(name)
        if value is None:
            continue
        try:
            int(value)
        except (TypeError, ValueError, OverflowError):
            raise RunStoreError(f"{path}: its {name} is not a number ({str(value)[:40]!r})",
                                "the run folder is corrupt") from None


def slot(record: dict) -> tuple:
    """A candidate's place in its run: round, then index (what its id r03c2 says)."""
    return (int(record.get("round") or 0), int(record.get("index") or 0), str(record.get("id")))
