"""``promptpo.load_policy``: a recorded policy as an object with ``reset()`` and ``act(obs)``.

By default the code runs in the sandbox, one worker per loaded policy, over the same protocol a
run evaluates with: your process only sends observations and receives actions. ``trusted=True``
loads it into your process instead, and only code the gate passes.
"""

from __future__ import annotations

import atexit
import importlib.util
import re
import secrets
import sys
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from promptpo import gate

from promptpo.isolation import inprocess
from promptpo.envspec import EnvSpec
from promptpo.errors import ConfigError
from promptpo.seeds import worker_seed
from promptpo.extract import entry_point, python_tree
from promptpo.isolation import Limits, make_sandbox
from promptpo.isolation.session import PolicySession
from promptpo.outcome import CandidateFault
from promptpo.resources import sandbox_module
from promptpo.text import clean, visible

ENV_LINE = re.compile(r"^#.*?\benv: (\S+)", re.MULTILINE)
LOADED_LIMITS = Limits(candidate_wall_s=float("inf"), candidate_cpu_s=24 * 3600)
"""A loaded policy lives as long as its user wants: no overall wall or CPU budget, per-call limits as in a run."""


class PolicyFailed(RuntimeError):
    """The policy crashed, hung, broke a limit or returned an action a run would refuse (non-finite, or a discrete
    action outside the space); a sandboxed policy's worker is gone. The message holds what the policy's code
    raised or printed with every control character shown as an escape: it cannot move the cursor, set the title or
    write the clipboard of the terminal that shows the traceback."""

    def __init__(self, message: str):
        super().__init__(visible(clean(message, 4000)))


def checked(spec: EnvSpec, action: Any) -> Any:
    """The action as a run would give it to the simulator: an int, or a float32 array clipped to the space."""
    try:
        return spec.action.check(np.asarray(action, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise PolicyFailed(f"act() returned an action a run would refuse: {err}") from None


class SandboxedPolicy:
    """A policy running in its own sandbox worker. ``close()`` (or ``with``) ends the worker; so does exit."""

    def __init__(self, code: str, spec: EnvSpec, sandbox: str = "process", limits: Limits = LOADED_LIMITS,
                 seed: int = 0, salt: str | None = None):
        """``salt``: with the seed, what the worker's RNGs are seeded from (default: new, kept secret); policies
        given the same salt draw the same random numbers in the same episode."""
        self.spec, self.seed, self.episodes = spec, seed, 0
        self._salt = salt or secrets.token_hex(8)
        self._sandbox = make_sandbox(sandbox)
        self._session: PolicySession | None = None
        try:
            self._session = PolicySession(self._sandbox, limits, spec.action)
            self._session.load(code)
        except CandidateFault as fault:
            self.close()
            raise PolicyFailed(f"the policy did not load: {fault.outcome}: {fault.message}") from None
        except BaseException:
            self.close()
            raise
        self._finalizer = weakref.finalize(self, _close, self._session, self._sandbox)
        atexit.register(self._finalizer)
        self.reset()

    def reset(self, episode: int | None = None) -> None:
        """Start an episode: a fresh Policy() and its reset(), with the worker's RNGs seeded for this policy's next
        episode, or for ``episode`` (the same number, the same seeds: evaluations that compare policies pair them)."""
        number = self.episodes if episode is None else episode
        self._call(lambda s: s.reset([0], worker_seed(self._salt, self.seed + number)), "reset()")
        self.episodes += 1

    def act(self, obs: Any) -> Any:
        """The action for ``obs``: an int for discrete action spaces, else a float64 array."""
        encoded = self.spec.encode_obs(obs)
        batch = {name: np.asarray(value)[None] for name, value in encoded.items()}
        return checked(self.spec, self._call(lambda s: s.act([0], batch), "act()")[0])[0]

    __call__ = act

    def _call(self, fn, what: str):
        if self._session is None:
            raise PolicyFailed(f"{what} on a closed policy")
        try:
            return fn(self._session)
        except CandidateFault as fault:
            self.close()
            raise PolicyFailed(f"{what} failed in the sandbox: {fault.outcome}: {fault.message}") from None

    def close(self) -> None:
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()
        else:
            _close(self._session, self._sandbox)
        self._session = None

    def __enter__(self) -> SandboxedPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close(session: PolicySession | None, sandbox) -> None:
    if session is not None:
        session.close()
    sandbox.close()


class TrustedPolicy:
    """A policy loaded into this process (``trusted=True``): only code the gate passed, under the import guard, each
    call into it under promptpo.isolation.inprocess's audit hook. Its actions are checked as a run checks them when the
    environment is known (``spec``)."""

    def __init__(self, module: Any, path: Path, spec: EnvSpec | None = None):
        self.module, self.path, self.spec = module, path, spec
        self._factory = getattr(module, "Policy", None)
        self._function = getattr(module, "act", None)
        if not callable(self._factory) and not callable(self._function):
            raise ConfigError(f"{path} defines neither a Policy class nor an act(obs) function")
        self._policy = None
        self.reset()

    def reset(self) -> None:
        if callable(self._factory):
            self._policy = inprocess.call(self._factory)
            if callable(getattr(self._policy, "reset", None)):
                inprocess.call(self._policy.reset)

    def act(self, obs: Any) -> Any:
        action = inprocess.call(self._policy.act if self._policy is not None else self._function, obs)
        return action if self.spec is None else checked(self.spec, action)[0]

    __call__ = act

    def close(self) -> None:
        pass

    def __enter__(self) -> TrustedPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_policy(source: str | Path, env: str | None = None, *, trusted: bool = False, sandbox: str = "process",
                out: str | Path = "runs", candidate: str | None = None, seed: int = 0):
    """``source``: a policy file (best.py, an export), a run folder or a run id under ``out``.

    The environment comes from the file's ``# env:`` header line or the run, unless ``env`` is given."""
    code, env_id, path = _source(Path(source), Path(out), candidate)
    env_id = env or env_id
    if trusted:
        refused = gate.check(code)
        if refused:
            raise ConfigError(f"{path} does not pass the gate ({refused[0]}), so it cannot be loaded in-process",
                              "load it sandboxed: leave out trusted=True")
        from promptpo.envs import load_spec

        return _import(path, code, load_spec(env_id) if env_id else None)
    if env_id is None:
        raise ConfigError(f"{path} names no environment (no '# env:' header line)",
                          "pass env=, e.g. load_policy(path, env='gymnasium/CartPole-v1')")
    from promptpo.envs import load_spec

    tree_entry = _entry(code)
    if tree_entry is None:
        raise ConfigError(f"{path} defines neither a Policy class nor an act(obs) function")
    return SandboxedPolicy(code, load_spec(env_id), sandbox, seed=seed)


def _source(source: Path, out: Path, candidate: str | None) -> tuple[str, str | None, Path]:
    if source.is_file():
        text = source.read_text(encoding="utf-8", errors="replace")
        match = ENV_LINE.search(text)
        return text, match.group(1) if match else None, source
    from promptpo.records import RunFolder

    run = RunFolder.find(str(source), out)
    pick = run.pick(candidate, "load")
    if pick.note:  # the best of the candidates the cascade stopped: said, as verify, play and export say it
        import logging

        logging.getLogger(__name__).warning("%s", pick.note)
    record = pick.record
    if record["outcome"] != "ok":
        raise ConfigError(f"candidate {record['id']} of {run.path.name} did not run cleanly ({record['outcome']})",
                          "load a candidate whose outcome is ok, e.g. the best one")
    return run.code(record["id"]), run.meta.get("env"), run.path / "candidates" / f"{record['id']}.py"


def _entry(code: str) -> str | None:
    tree = python_tree(code)
    return None if tree is None else entry_point(tree)


def _import(path: Path, code: str, env: EnvSpec | None) -> TrustedPolicy:
    """The code in this process, under the same import guard as in the sandbox worker (sandbox/guard.py)."""
    spec = importlib.util.spec_from_loader(f"promptpo_policy_{abs(hash(str(path.resolve())))}", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__builtins__"] = sandbox_module("guard").guarded_builtins(gate.guard())
    sys.modules[spec.name] = module  # as an import does: code that looks its own module up finds it
    try:  # dont_inherit: the code runs under its own __future__ flags, as in the sandbox worker, not this file's
        compiled = compile(code, str(path), "exec", dont_inherit=True)
        with inprocess.armed(compiled):
            exec(compiled, module.__dict__)  # noqa: S102 - the gate passed it
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    return TrustedPolicy(module, path, env)
