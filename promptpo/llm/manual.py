"""``manual`` — a person (or any external agent) answers each prompt.

The run has already written the prompt to ``llm/NNNN.prompt.md``; this backend prints that path
and waits for ``llm/NNNN.response.md`` to appear (write it whole, e.g. to a temp file and then
rename). When stdin is an interactive terminal the answer may also be pasted there, ended by a
line holding only ``EOF`` (or Ctrl-D).
"""

from __future__ import annotations

import select
import sys
import threading
import time
from pathlib import Path

from promptpo.errors import BackendError, ConfigError
from promptpo.llm.base import Backend, Completion, GenParams, Request
from promptpo.llm.tokens import with_estimated_usage

POLL_S = 0.25
STDIN = threading.Lock()
"""Held by the one waiting call that reads pasted answers from the terminal."""


class ManualBackend(Backend):
    name = "manual"
    prefix = "manual"

    @classmethod
    def from_model(cls, given: str, params: GenParams) -> ManualBackend:
        return cls()

    def __init__(self) -> None:
        super().__init__("manual")

    def complete(self, request: Request) -> Completion:
        if request.prompt_path is None or request.response_path is None:
            raise ConfigError("the manual backend needs a run folder to exchange prompts and answers")
        interactive = sys.stdin is not None and sys.stdin.isatty()
        pasting = interactive and STDIN.acquire(blocking=False)  # with a wave in flight, one prompt at a time
        print(f"\n[manual] prompt {request.call_index:04d} is waiting for an answer:\n"  # takes pasted answers
              f"  read:  {request.prompt_path}\n  write: {request.response_path}"
              + ("\n  or paste the answer here and end it with a line holding only EOF" if pasting else ""),
              file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            text = self._wait(request.response_path, pasting, request.deadline)
        finally:
            if pasting:
                STDIN.release()
        return with_estimated_usage(request, Completion(text=text, model="manual",
                                                        latency_s=time.monotonic() - started))

    def _wait(self, path: Path, interactive: bool, deadline: float | None) -> str:
        pasted: list[str] = []
        last_seen: tuple[int, float] | None = None
        while True:
            if deadline is not None and time.monotonic() > deadline:
                raise BackendError("no manual answer arrived before the run's time budget ran out", kind="timeout")
            if path.exists():
                stat = path.stat()
                seen = (stat.st_size, stat.st_mtime)
                if seen == last_seen and stat.st_size > 0:  # unchanged for one poll: written whole
                    return path.read_text(encoding="utf-8")
                last_seen = seen
            if interactive:
                ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
                if ready:
                    line = sys.stdin.readline()
                    if line == "" or line.rstrip("\r\n") == "EOF":
                        if pasted:
                            return "".join(pasted)
                    else:
                        pasted.append(line)
            else:
                time.sleep(POLL_S)
