"""The host's side of the worker protocol: load code, reset episodes, ask for action batches.

Every failure of the candidate becomes a :class:`CandidateFault` with the right outcome; the
worker is killed on any fault so a misbehaving candidate never outlives its evaluation.
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from types import ModuleType

import numpy as np

from promptpo import gate
from promptpo.envspec import ActionSpec
from promptpo.isolation.base import Limits, Sandbox, Worker, WorkerDied
from promptpo.outcome import CandidateFault, Outcome
from promptpo.resources import sandbox_module
from promptpo.text import clean

MAX_REPLY_HEADER = 256 * 1024
"""A reply's JSON header: an error (message and traceback are capped by the worker) or a call's result."""
TYPE_CHARS, MESSAGE_CHARS, TRACEBACK_CHARS = 100, 2000, 8000
"""What the host keeps of a worker's error, whatever the worker sent."""


def wire() -> ModuleType:
    """sandbox/wire.py, the one implementation of the frame format."""
    return sandbox_module("wire")


ERROR_OUTCOMES = {"MemoryError": Outcome.MEMORY, "InvalidAction": Outcome.INVALID_ACTION,
                  "InvalidResult": Outcome.INVALID_RESULT,
                  "LoadError": Outcome.NO_ENTRY_POINT, "ProtocolError": Outcome.PROTOCOL_ERROR}


class PolicySession:
    """One candidate's code running in one fresh worker."""

    pipelined = True
    """Whether a batch's act can be sent and its reply received apart (``send_act`` / ``receive_act``), so the
    Evaluator keeps two half-batches in flight; a session without it (a benchmark's in-process one) says False."""

    def __init__(self, sandbox: Sandbox, limits: Limits, action: ActionSpec | None):
        self.limits = limits
        self.action = action
        self.started = time.monotonic()
        self.waited_s = 0.0
        """Time spent waiting on the worker: what ``candidate_wall_s`` limits (the host's own time, stepping
        the simulator for a long lock-step batch on a slow machine, is not the candidate's)."""
        self.worker: Worker = sandbox.start(limits)
        self._frames = wire().Memo()
        """Act requests and replies repeat their headers step after step: each is made or parsed once."""

    def __enter__(self) -> PolicySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.worker.write(wire().encode({"op": "exit"}), time.monotonic() + 0.5)
        except (TimeoutError, WorkerDied, OSError):
            pass
        self.worker.close()

    def output(self) -> tuple[str, int]:
        return self.worker.output()

    def load(self, code: str, entry: str = "policy") -> None:
        """Run the code's top level; ``entry`` is 'policy' or the name of a function to call later."""
        action = None if self.action is None else {"kind": self.action.kind, "n": self.action.n,
                                                   "shape": list(self.action.shape)}
        guard = gate.guard() if self.limits.guard else None
        self._request({"op": "load", "code": code, "action": action, "entry": entry, "guard": guard}, None,
                      self.limits.load_timeout_s, "loading the code")

    def call(self, name: str, args: list, timeout: float | None = None) -> object:
        """Call a function of the loaded code with JSON arguments; returns its JSON result."""
        reply, _ = self._request({"op": "call", "name": name, "args": args}, None,
                                 timeout or self.limits.act_timeout_s, f"{name}()")
        return reply.get("result")

    def summarize(self, arrays: dict[str, np.ndarray], what: str) -> str:
        """The loaded Feedback class's note on one episode's recorded steps (promptpo.policy.summarizer)."""
        reply, _ = self._request({"op": "feedback"}, arrays, self.limits.act_timeout_s, what)
        result = reply.get("result")
        if not isinstance(result, str):
            raise self._fault(Outcome.INVALID_RESULT, f"{what} returned {type(result).__name__}, expected a str")
        return result

    def reset(self, envs: list[int], seed: int) -> None:
        self._request({"op": "reset", "envs": envs, "seed": seed}, None, self._allowance(len(envs)), "reset()")

    def act(self, envs: list[int], obs: dict[str, np.ndarray]) -> np.ndarray:
        self.send_act(envs, obs)
        return self.receive_act(envs)

    def send_act(self, envs: list[int], obs: dict[str, np.ndarray], batch: int | None = None,
                 stream: bool = False) -> None:
        """Ask for the actions of ``envs``; the worker answers requests in the order they were sent, so a caller
        may send the next batch's request before it reads this one's answer (promptpo.policy.evaluate pipelines).
        ``batch``: the episodes the allowance is for (default ``envs``): act_timeout_s each. ``stream``: more
        requests follow before this reply is read (the worker then polls for them rather than sleeps; see
        sandbox/worker.py's Reader)."""
        header = {"op": "act", "envs": envs, "stream": True} if stream else {"op": "act", "envs": envs}
        self._send(self._frames.encode(("act", stream, *envs), header, obs), self._allowance(batch or len(envs)),
                   "act()")

    def receive_act(self, envs: list[int], batch: int | None = None) -> np.ndarray:
        """The actions of the oldest act request not yet read, which must have been for ``envs``."""
        expected = (len(envs), *((self.action.shape) if self.action.kind == "box" else ()))
        _, arrays = self._receive(self._allowance(batch or len(envs)), "act()", max_payload=8 * int(np.prod(expected)),
                                  envs=envs)
        actions = arrays.get("action")
        if actions is None or actions.shape != expected or actions.dtype != np.float64:
            raise self._fault(Outcome.PROTOCOL_ERROR, f"worker sent actions of shape "
                              f"{None if actions is None else actions.shape}, expected {expected}")
        return actions

    def _allowance(self, episodes: int) -> float:
        """Wall time for one call covering ``episodes`` episodes: act_timeout_s each."""
        return self.limits.act_timeout_s * max(1, episodes)

    def _request(self, header: dict, arrays: dict | None, timeout: float, what: str, max_payload: int = 0,
                 envs: list[int] = ()) -> tuple[dict, dict]:
        """One request and its reply; a reply larger than the answer can be (``max_payload`` bytes of
        arrays, ``MAX_REPLY_HEADER`` of header) or malformed in any way is the candidate's protocol error."""
        started = time.monotonic()
        self._send(wire().encode(header, arrays), timeout, what)
        return self._receive(timeout, what, max_payload, envs, since=started)  # one allowance for both

    def _send(self, frame: bytes, timeout: float, what: str) -> None:
        with self._waiting(timeout, what) as deadline:
            self.worker.write(frame, deadline)

    def _receive(self, timeout: float, what: str, max_payload: int = 0, envs: list[int] = (),
                 since: float | None = None) -> tuple[dict, dict]:
        w = wire()
        with self._waiting(timeout, what, since) as deadline:
            prefix = self.worker.read_exact(w.PREFIX.size, deadline)
            header_len, payload_len = w.split_prefix(prefix, max_payload, MAX_REPLY_HEADER)
            body = self.worker.read_exact(header_len + payload_len, deadline)
            reply, reply_arrays = self._frames.decode(body[:header_len], body[header_len:])
        if reply.get("ok") is True:
            return reply, reply_arrays
        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        kind = clean(error.get("type", "Error"), TYPE_CHARS)
        outcome = Outcome.BLOCKED if error.get("blocked") is True else ERROR_OUTCOMES.get(kind, Outcome.CRASHED)
        text = clean(error.get("message", ""), MESSAGE_CHARS)
        message = f"{kind}: {text}" if outcome is not Outcome.NO_ENTRY_POINT else text
        env = error.get("env")
        env = env if type(env) is int and env in envs else None  # only an episode of this batch
        raise self._fault(outcome, message, clean(str(error.get("traceback", ""))[-TRACEBACK_CHARS:]), env)

    @contextmanager
    def _waiting(self, timeout: float, what: str, since: float | None = None):
        """A deadline for one write or read on the worker (``timeout`` from ``since``, default now, within what is
        left of the candidate's wall-time budget); its failures become the candidate's faults, and the time
        waited counts."""
        now = time.monotonic()
        budget_end = now + max(0.0, self.limits.candidate_wall_s - self.waited_s)
        deadline = min((now if since is None else since) + timeout, budget_end)
        try:
            yield deadline
        except TimeoutError:
            if deadline >= budget_end:
                raise self._fault(Outcome.TIMEOUT, f"the candidate used up its wall-time budget of "
                                  f"{self.limits.candidate_wall_s:g} s of its own (during {what}; the "
                                  "simulator's time is not counted)") from None
            raise self._fault(Outcome.TIMEOUT, f"{what} did not return within {timeout:g} s") from None
        except WorkerDied:
            raise self._died(what) from None
        except wire().WireError as err:
            raise self._fault(Outcome.PROTOCOL_ERROR, f"the worker broke the protocol during {what}: {err}") from None
        finally:
            self.waited_s += time.monotonic() - now

    def _died(self, what: str) -> CandidateFault:
        if self.worker.output_overflowed:
            return self._fault(Outcome.OUTPUT_LIMIT, f"the code printed more than "
                               f"{self.limits.output_hard_bytes // (1024 * 1024)} MiB and was stopped")
        code = self.worker.exit_code()  # asked once: a worker that hung up and runs on is killed, not waited for
        if code is None:
            self.worker.kill()
            code = self.worker.exit_code()
        how = self.worker.exit_description(code) if code is not None else "hung up and was killed"
        sig = self.worker.exit_signal(code) if code is not None else None
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and time.monotonic() - self.started >= self.limits.candidate_cpu_s):
            return self._fault(Outcome.CPU_LIMIT, f"the worker used up its CPU budget of "
                               f"{self.limits.candidate_cpu_s} s during {what} ({how})")
        text, _ = self.worker.output()
        if "MemoryError" in text[-2000:]:
            return self._fault(Outcome.MEMORY, f"the worker ran out of memory ({self.limits.memory_mb} MiB) during {what}")
        return self._fault(Outcome.CRASHED, f"the worker process {how} during {what}", text[-4000:])

    def _fault(self, outcome: Outcome, message: str, tb: str = "", env: int | None = None) -> CandidateFault:
        self.worker.kill()
        return CandidateFault(outcome, message, tb, env)
