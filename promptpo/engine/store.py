"""The run folder, written as things happen: atomic file writes and an append-only event log.

``runs/<run-id>/`` holds run.json, events.jsonl, llm/NNNN.{prompt.md,response.md,json},
candidates/<id>.{py,json}, best.py and summary.json. Each file is complete whenever it exists.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
import tempfile
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from promptpo.text import clean, jsonl_safe
from promptpo.errors import ConfigError
from promptpo.llm.base import Completion, redact


log = logging.getLogger(__name__)

EVENTS_LOCK = threading.Lock()
CUT_SHOWN = 200
"""Characters of a dropped cut-short events line kept in the event that says it was dropped."""


def drop_cut_line(path: Path) -> str | None:
    """Truncate ``path`` back to its last newline when it does not end in one (a write a kill cut short); the text
    dropped, or None when the file is missing, empty or whole."""
    try:
        handle = open(path, "rb+")
    except FileNotFoundError:
        return None
    with handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return None
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
        start = size
        while start > 0:  # back to the last newline, a block at a time
            block = min(1 << 16, start)
            handle.seek(start - block)
            newline = handle.read(block).rfind(b"\n")
            if newline >= 0:
                start = start - block + newline + 1
                break
            start -= block
        handle.seek(start)
        dropped = handle.read()
        handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())
    return dropped.decode("utf-8", errors="replace")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and hasattr(value, "as_record"):  # its own compact form
        return _plain(value.as_record())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.startswith("_")}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return clean(value)  # a lone surrogate from an answer or a worker cannot go into a UTF-8 file
    return value


def to_json(value: Any) -> str:
    return json.dumps(_plain(value), indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


NOT_FINITE_NAMED = 20
"""Places of non-finite numbers a record names (then how many more there were)."""


def finite(value: Any, where: str = "") -> tuple[Any, list[str]]:
    """A plain value (from ``_plain``) with every non-finite float as None, and where each was
    (``evaluation.episodes[0].digest.reward_max``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, [where]
    places: list[str] = []
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            out[key], inner = finite(v, f"{where}.{key}" if where else key)
            places += inner
        return out, places
    if isinstance(value, list):
        items = []
        for i, v in enumerate(value):
            item, inner = finite(v, f"{where}[{i}]")
            items.append(item)
            places += inner
        return items, places
    return value, places


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_output(path: Path, text: str) -> Path:
    """A file the user asked for (-o): one clear error if it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror}", "choose a writable path with -o") from None
    return path


class RunStore:
    def __init__(self, root: Path):
        self.root = root
        self.ended = False
        """The run's last event is logged: nothing is logged after it (a call answered late, on a daemon thread)."""

    @staticmethod
    def check_writable(out: Path) -> None:
        """Raise ConfigError unless run folders can be written under ``out``."""
        try:
            out.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=out, prefix=".promptpo-write-test-"):
                pass
        except OSError as err:
            raise ConfigError(f"cannot write the run folder under {out}: {err.strerror}",
                              "choose a writable folder with --out") from None

    @classmethod
    def create(cls, out: Path, run_id: str, folders: tuple[str, ...] = ("llm", "candidates")) -> RunStore:
        cls.check_writable(out)
        root = out / run_id
        try:
            root.mkdir(parents=True, exist_ok=False)
            for folder in folders:
                (root / folder).mkdir()
        except FileExistsError:
            raise ConfigError(f"run folder {root} already exists", "choose another --out or remove it") from None
        return cls(root)

    # -- generic -------------------------------------------------------------------------
    def write_json(self, rel: str, data: Any) -> Path:
        path = self.root / rel
        atomic_write(path, to_json(data))
        return path

    def write_record(self, rel: str, record: dict) -> Path:
        """A candidate's or a tuning sample's record, written whatever numbers it holds: JSON has no NaN or
        infinity, so each is written as null and the record's ``not_finite`` field says where it was (one odd
        number in an evaluation must not leave the candidate unrecorded and end the run)."""
        plain, places = finite(_plain(record))
        if places:
            log.warning("%s: non-finite numbers written as null at %s", rel, ", ".join(places[:NOT_FINITE_NAMED]))
            plain["not_finite"] = places[:NOT_FINITE_NAMED] + (
                [f"... and {len(places) - NOT_FINITE_NAMED} more"] if len(places) > NOT_FINITE_NAMED else [])
        return self.write_json(rel, plain)

    def write_text(self, rel: str, text: str) -> Path:
        path = self.root / rel
        atomic_write(path, clean(text))
        return path

    def event(self, name: str, /, **data: Any) -> None:
        """One line appended to events.jsonl, whole (calls in flight log from their own threads).

        A line a kill cut short (the file does not end in a newline) is dropped first, and an ``events_cut_line``
        event says so: appended to, it would glue this event to it and leave a bad line in the middle, which no
        reader takes (a cut line is tolerated only last). The cut event never finished, so nothing relied on it:
        a resumed run logs again whatever it was (a candidate event not whole in the file is not counted as
        logged)."""
        self._log(name, data)

    def end(self, name: str, /, **data: Any) -> None:
        """The run's last event (run_end): whatever is still running when it is logged logs nothing more."""
        self._log(name, data, last=True)

    def _log(self, name: str, data: dict, last: bool = False) -> None:
        lines = [self._line(name, data)]
        with EVENTS_LOCK:
            if self.ended:
                log.debug("not logged after the run's end: %s", name)
                return
            dropped = drop_cut_line(self.root / "events.jsonl")
            if dropped is not None:
                lines.insert(0, self._line("events_cut_line", {"chars": len(dropped), "start": dropped[:CUT_SHOWN]}))
            with open(self.root / "events.jsonl", "a", encoding="utf-8") as handle:
                handle.write("".join(lines))
                handle.flush()
                os.fsync(handle.fileno())
            self.ended = last

    @staticmethod
    def _line(name: str, data: dict) -> str:
        line = jsonl_safe(json.dumps(_plain({"t": now_iso(), "event": name, **data}), ensure_ascii=False, default=str))
        return redact(line) + "\n"

    # -- LLM calls -----------------------------------------------------------------------
    def prompt_path(self, call: int) -> Path:
        return self.root / "llm" / f"{call:04d}.prompt.md"

    def response_path(self, call: int) -> Path:
        return self.root / "llm" / f"{call:04d}.response.md"

    def record_prompt(self, call: int, kind: str, messages: list[dict]) -> Path:
        parts = [f"<!-- promptpo prompt {call:04d} ({kind}); messages in order, each under its role -->"]
        parts += [f"\n## {m['role']}\n\n{m['content']}" for m in messages]
        self.write_json(f"llm/{call:04d}.messages.json", messages)
        return self.write_text(f"llm/{call:04d}.prompt.md", "\n".join(parts))

    def record_response(self, call: int, completion: Completion, meta: dict) -> None:
        self.write_text(f"llm/{call:04d}.response.md", completion.text)
        self.write_json(f"llm/{call:04d}.json", {
            **meta, "model": completion.model, "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens, "tokens_estimated": completion.tokens_estimated,
            "cost_usd": completion.cost_usd,
            "latency_s": round(completion.latency_s, 3), "attempts": completion.attempts,
            "finish_reason": completion.finish_reason})

    # -- candidates ----------------------------------------------------------------------
    def record_candidate(self, candidate_id: str, code: str, record: dict) -> None:
        """candidates/<id>.py (the code as evaluated) and candidates/<id>.json (what the run knows of it)."""
        self.write_text(f"candidates/{candidate_id}.py", code)
        self.write_record(f"candidates/{candidate_id}.json", record)
