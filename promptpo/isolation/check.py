"""`promptpo sandbox doctor`: run a tiny candidate through each backend and say what happened."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from promptpo.envspec import ActionSpec
from promptpo.errors import PromptpoError
from promptpo.isolation.base import Limits, Sandbox
from promptpo.outcome import CandidateFault

PROBE = "def act(obs):\n    return int(obs[0]) + 1\n"


def probe(sandbox: Sandbox) -> str:
    from promptpo.isolation.session import PolicySession

    with PolicySession(sandbox, Limits(load_timeout_s=60), ActionSpec("discrete", n=3)) as session:
        session.load(PROBE)
        session.reset([0], seed=0)
        actions = session.act([0], {"obs": np.array([[1.0]])})
    if actions.tolist() != [2.0]:
        raise CandidateFault("protocol_error", f"probe answered {actions.tolist()} instead of [2.0]")
    return sandbox.describe()


def diagnose() -> Iterator[tuple[str, bool, str]]:
    from promptpo.isolation.bwrap import problem as bwrap_problem
    from promptpo.isolation.process import ProcessSandbox

    problem = bwrap_problem()
    try:
        with ProcessSandbox(use_bwrap=problem is None) as sandbox:
            detail = probe(sandbox)
        yield "process", problem is None, detail if problem is None else f"runs, but {problem}: {detail}"
    except (PromptpoError, CandidateFault) as err:
        yield "process", False, str(err)
    try:
        from promptpo.isolation.docker import DockerSandbox

        with DockerSandbox() as sandbox:
            yield "docker", True, probe(sandbox)
    except (PromptpoError, CandidateFault) as err:
        yield "docker", False, str(err)
