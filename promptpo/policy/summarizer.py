"""The model's own feedback function: a ``Feedback`` class next to its policy, run in the sandbox.

A program may define ``class Feedback`` with ``summarize_trajectory(self, observations, actions,
rewards, infos)`` returning a short string. After an evaluation the host loads that program in a
fresh worker of the same sandbox (tighter time limits, no simulator) and calls the method once per
recorded episode (promptpo.policy.trajectory); the strings are shown next to the episodes in later prompts,
labelled as the model's own. A class that crashes, hangs or returns something else is reported in
the next prompt instead, and the last one that worked stays in use until the model writes another.
"""

from __future__ import annotations

import ast
import time
from dataclasses import replace

from promptpo.extract import python_tree
from promptpo.policy.evaluation import Notes
from promptpo.isolation.base import Limits, Sandbox
from promptpo.isolation.session import PolicySession
from promptpo.outcome import CandidateFault
from promptpo.text import clean
from promptpo.policy.trajectory import Trajectory

CLASS, METHOD = "Feedback", "summarize_trajectory"
NOTE_CHARS = 300
"""Characters of one episode's note that are kept and shown."""
CALL_S = 10.0
"""Wall time for one summarize_trajectory call (one episode)."""
WALL_S, CPU_S = 60.0, 60
"""Wall and CPU time for all of one evaluation's calls, loading included."""
OUTPUT_CHARS = 1000
"""What a failed feedback function printed that its report keeps (its end)."""


def defines_feedback(code: str) -> bool:
    """Whether the program defines a module-level ``class Feedback`` (checked without running it)."""
    tree = python_tree(code)
    return tree is not None and any(isinstance(node, ast.ClassDef) and node.name == CLASS for node in tree.body)


MIN_S = 1.0
"""Less time than this left for the feedback functions, and none runs."""


def feedback_limits(limits: Limits) -> Limits:
    """The candidate's limits with the feedback function's (shorter) time allowances, none longer than what is left
    of the candidate's wall time (``limits.candidate_wall_s``, which a run's --max-time shortens)."""
    wall = min(limits.candidate_wall_s, WALL_S)
    return replace(limits, act_timeout_s=min(CALL_S, wall), load_timeout_s=min(limits.load_timeout_s, CALL_S, wall),
                   candidate_wall_s=wall, candidate_cpu_s=min(limits.candidate_cpu_s, CPU_S))


def summarize(sandbox: Sandbox, limits: Limits, code: str, source: str | None,
              trajectories: list[Trajectory]) -> Notes:
    """Run ``code``'s Feedback class on every episode that took a step."""
    notes = Notes(source, cut=[[t.episode, t.cut_at] for t in trajectories if t.cut_at is not None])
    session = None
    try:
        session = PolicySession(sandbox, feedback_limits(limits), None)
        session.load(code, entry=CLASS)
        for t in trajectories:
            if t.steps:
                text = session.summarize(t.arrays(), f"{CLASS}.{METHOD}() on episode {t.episode}")
                notes.lines.append([t.episode, " ".join(clean(text, NOTE_CHARS).split())])  # one line each
    except CandidateFault as fault:
        notes.error, notes.traceback = fault.message, fault.traceback
    except Exception as err:  # noqa: BLE001 - the host's own trouble must not cost the finished evaluation
        notes.error, notes.by_host = clean(f"{type(err).__name__}: {err}", 500), True
    finally:
        if session is not None:
            session.close()
            if notes.error:
                notes.output = clean(session.output()[0][-OUTPUT_CHARS:])
    return notes


def run(sandbox: Sandbox, limits: Limits, sources: list[tuple[str | None, str]],
        trajectories: list[Trajectory]) -> list[Notes]:
    """Each source (``(id, code)``: the program's own first, then the last one that worked) in turn until one
    works; the notes of every one tried."""
    deadline = time.monotonic() + min(limits.candidate_wall_s, WALL_S)  # one allowance for all of them
    tried = []
    for source, code in sources:
        left = deadline - time.monotonic()
        if left < MIN_S:
            tried.append(Notes(source, error="no time was left for it: the candidate's wall time (a run's --max-time "
                               "included) ran out", by_host=True))
            break
        tried.append(summarize(sandbox, replace(limits, candidate_wall_s=left), code, source, trajectories))
        if tried[-1].ok:
            break
    return tried
