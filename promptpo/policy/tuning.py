"""Constant tuning (``--tune-constants``): CMA-ES over the constants a program declares tunable, no LLM call.

A program declares what may be tuned, and within which range, next to the constants themselves::

    KP = 2.0
    KD = 0.3
    TUNABLE = {"KP": (0.1, 20.0), "KD": (0.0, 2.0)}

Each name must be a module-level ``NAME = number`` assignment; nothing else (no bare literal, no structure)
is touched. A range whose low end is positive and whose ends are ten times apart or more is searched on a log
scale, any other linearly. Which candidate a phase tunes follows a stated rule (``choose_parent``), a phase
stops after ``STALL_GENERATIONS`` generations without a gain beyond the noise, and all tuning together
spends at most ``--tune-share`` of the run's env steps.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from promptpo.candidate import fitness_of, ranked, sample_key
from promptpo.engine.context import RunContext
from promptpo.engine.state import StopRun
from promptpo.envspec import Target
from promptpo.policy.config import OptimizeConfig
from promptpo.policy.evaluation import Evaluation
from promptpo.extract import python_tree
from promptpo.outcome import RunStatus
from promptpo.policy.tuning_share import (MIN_DIMENSIONS, affordable_text, cost_text, generation_size,
                                          phase_allowance, share_left)

DECLARATION = "TUNABLE"
STALL_GENERATIONS = 3
"""A tuning phase stops when this many generations in a row bring no sample that beats the phase's leader
(the parent, then each sample that beat it) beyond the noise (``beats``)."""
SIGMA0 = 0.25
"""CMA-ES's first step, as a share of each range."""


class TunedTask(Protocol):
    """What tuning needs of the task whose programs it tunes (promptpo.policy.task.PolicyTask); the run itself it
    asks through its RunContext."""

    config: OptimizeConfig
    target: Target | None
    entry: str

    def worst_case_steps(self) -> int: ...

    def notes_for(self, code: str, result: Evaluation) -> None: ...


@dataclass(frozen=True)
class Constant:
    name: str
    line: int
    col: int
    end_col: int
    value: float
    text: str
    low: float
    high: float
    integer: bool = False

    @property
    def log(self) -> bool:
        return self.low > 0 and self.high >= 10 * self.low

    def at(self, u: float) -> float:
        """The value at position ``u`` in [0, 1] of the range."""
        u = min(1.0, max(0.0, float(u)))
        value = (self.low * (self.high / self.low) ** u if self.log else self.low + u * (self.high - self.low))
        return float(round(value)) if self.integer else value

    def position(self) -> float:
        """Where the program's own value sits in the range (clamped)."""
        value = min(self.high, max(self.low, self.value))
        if self.high == self.low:
            return 0.5
        return (math.log(value / self.low) / math.log(self.high / self.low) if self.log
                else (value - self.low) / (self.high - self.low))


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def declared_tunables(code: str) -> tuple[list[Constant], list[str]]:
    """The constants ``code`` declares in ``TUNABLE``, and one line per declaration that could not be used."""
    tree = python_tree(code)
    if tree is None:
        return [], []  # nothing to tune in code that cannot be parsed
    assigned: dict[str, ast.Assign] = {}
    bound: dict[str, int] = {}
    declaration = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned.setdefault(node.targets[0].id, node)
            if node.targets[0].id == DECLARATION:
                declaration = node.value
    for node in ast.walk(tree):  # every binding anywhere: a tunable changed later would not be what was tuned
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target]
                       if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []):
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    bound[name.id] = bound.get(name.id, 0) + 1
        if isinstance(node, ast.Global):
            for name in node.names:
                bound[name] = bound.get(name, 0) + 1
    if declaration is None:
        return [], []
    if not isinstance(declaration, ast.Dict):
        return [], [f"{DECLARATION} must be a dict literal {{\"NAME\": (low, high), ...}}"]
    lines = code.splitlines()
    found, problems = [], []
    for key, bounds in zip(declaration.keys, declaration.values):
        name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
        ends = ([_number(e) for e in bounds.elts] if isinstance(bounds, (ast.Tuple, ast.List)) else [])
        if (name is None or len(ends) != 2 or None in ends or not ends[0] < ends[1]
                or not math.isfinite(ends[1] - ends[0])):  # 1e999 or a span beyond floats: CMA-ES's bounds raise
            problems.append(f"{DECLARATION} entry {ast.unparse(key) if key else '**'}: needs \"NAME\": (low, high) "
                            "with finite numbers, low < high")
            continue
        if any(c.name == name for c in found):  # one literal is one constant, not two dimensions
            problems.append(f"{DECLARATION} names {name!r} twice: it is tuned once")
            continue
        node = assigned.get(name)
        value = _number(node.value) if node is not None else None
        if value is None:  # the name is the model's text: only its repr reaches the prompts
            problems.append(f"{DECLARATION} names {name!r}, which is not a module-level assignment of a number")
            continue
        if bound.get(name, 0) > 1:
            problems.append(f"{name} is assigned more than once (or declared global): tuning changes its first "
                            "value only, so it is not tuned")
            continue
        target = node.value
        if target.end_lineno != target.lineno:
            problems.append(f"{name}: its value must be written on one line")
            continue
        text = lines[target.lineno - 1][target.col_offset:target.end_col_offset]
        integer = isinstance(_leaf(target).value, int) and all(float(e).is_integer() for e in ends)
        found.append(Constant(name, target.lineno, target.col_offset, target.end_col_offset, value, text,
                              float(ends[0]), float(ends[1]), integer))
    return found, problems


def _leaf(node: ast.AST) -> ast.Constant:
    while isinstance(node, ast.UnaryOp):
        node = node.operand
    return node


def values_for(constants: list[Constant], u: np.ndarray) -> list[float]:
    return [c.at(x) for c, x in zip(constants, u)]


def substitute(code: str, constants: list[Constant], values: list[float]) -> str:
    lines = code.splitlines(keepends=True)
    for c, value in sorted(zip(constants, values), key=lambda cv: (cv[0].line, cv[0].col), reverse=True):
        row = lines[c.line - 1]
        literal = f"{value:.6g}"
        if "." not in literal and "e" not in literal and not c.integer:
            literal += ".0"
        if value < 0:
            literal = f"({literal})"
        lines[c.line - 1] = row[:c.col] + literal + row[c.end_col:]
    return "".join(lines)


def beats(tuned: Evaluation, parent: Evaluation) -> bool:
    """Better than the parent by more than the noise across episodes (about two standard errors), in the
    order of the rank key: success rate, then how soon it succeeds, then mean return."""
    if not tuned.ok or tuned.mean_return is None or not tuned.complete:
        return False
    s_t, s_p = tuned.success_rate, parent.success_rate
    if s_t is not None and s_p is not None:
        n_t, n_p = len(tuned.returns), max(1, len(parent.returns))
        if s_t != s_p:
            se = math.sqrt(s_t * (1 - s_t) / n_t + s_p * (1 - s_p) / n_p)
            return s_t > s_p and (s_t - s_p) > 1.96 * se
        if s_t > 0:  # as often successful: sooner is better
            return _clearly_above([-e.steps_to_success for e in tuned.episodes if e.completed],
                                  [-e.steps_to_success for e in parent.episodes if e.completed])
    return _clearly_above(tuned.returns, parent.returns)


def _clearly_above(values: list[float], reference: list[float]) -> bool:
    if not values:
        return False
    diff = float(np.mean(values)) - (float(np.mean(reference)) if reference else 0.0)
    se = math.sqrt(np.var(values) / len(values) + (np.var(reference) / len(reference) if reference else 0.0))
    return diff > 0 and diff > 1.96 * se


RULE = ("the higher-ranked of the run's best and the round's best complete program (one the cascade stopped only while "
        "the run has no complete program) that was not tuned itself before; a tuned result is a new program, so the "
        "best keeps being tuned further while nothing better comes")
"""Which program a tuning phase tunes, in the words every prompt uses (``choose_parent`` does it)."""


def choose_parent(history: list, round_: int, tuned_before: set[str]):
    """What a phase after round ``round_`` tunes (``RULE``): of the run's best and the best of that round (new work
    gets its chance), in rank order, the first that has not been tuned itself. A tuned result may be tuned again (a
    phase ends on its share of env steps long before CMA-ES settles: Hopper's best, tuned in 6 evaluations, was never
    tuned again while every later phase found nothing to tune); one the cascade stopped is not while the run has a
    complete program (its score is of its first episodes only: Ant's stopped r01c0 was tuned over the best), but is
    while it has none (a mis-tuned controller that fails its first episodes has nothing else to become). None when
    neither is left."""
    best, latest = _options(history, round_)
    return next((c for c in ranked(best + latest) if c.id not in tuned_before), None)


def _options(history: list, round_: int) -> tuple[list, list]:
    """What ``choose_parent`` chooses from: the run's best and the best of round ``round_`` (each a list of at most
    one), of the complete programs, or of the scored ones while there is no complete program."""
    complete = [c for c in history if c.complete]
    eligible = complete or [c for c in history if c.scored]
    return ranked(eligible)[:1], ranked([c for c in eligible if c.round == round_])[:1]


def nothing_to_tune(history: list, round_: int, tuned_before: set[str]) -> str:
    """Why ``choose_parent`` found nothing, in words."""
    best, latest = _options(history, round_)
    said = [f"the run's best, {best[0].id}, was tuned before" if best else "no candidate was scored"]
    if latest and latest[0] is not best[0]:
        said.append(f"the round's best complete program, {latest[0].id}, was tuned before")
    elif any(c.round == round_ and c.scored and not c.complete for c in history) and not latest:
        said.append("every scored program of the round was stopped by the cascade")
    return "; ".join(said)


def status(run: RunContext, task: TunedTask, round_: int) -> str:
    """What tuning will still do, for the next prompt: whether a phase can still run, on what, and how many phases what
    is left of its share pays for at the worst case (real models read "after each of the 8 after it (about 30,000 env
    steps each, while its share lasts)" as eight phases to come; the share paid for one, and every later prompt said
    "spent" with 26,570 env steps left)."""
    config = task.config
    left, worst = share_left(run, task), task.worst_case_steps()
    phases = max(0, config.rounds - round_)  # after this round and after each one left
    smallest = generation_size(config.tune_evals, MIN_DIMENSIONS)
    if phases == 0:
        return "Constant tuning will not run again in this run: no round is left."
    if left < smallest * worst:
        return "Constant tuning will not run again in this run: " + (
            "its share of env steps is spent." if left < worst else
            f"what is left of its share ({left:,.0f} env steps) cannot pay for one CMA-ES generation at its worst case "
            f"(the smallest, over {MIN_DIMENSIONS} constants, is {smallest} evaluations of up to {worst:,} env steps).")
    when = "after this round, the last" if phases == 1 else "after this round, and after later ones while its share lasts"
    return (f"Constant tuning will run {when}, on {RULE}, if it declares TUNABLE constants"
            + affordable_text(config.tune_evals, left, worst) + ". " + cost_text(config.tune_evals, left, worst, phases))


def tune(run: RunContext, task: TunedTask, round_: int, tuned_before: set[str]) -> str:
    """One tuning phase: CMA-ES over the declared constants of the parent ``choose_parent`` picks, evaluated
    through the run (its budgets and counts), for at most ``tune_evals`` evaluations and the phase's allowance of
    env steps, until a sample reaches the run's target, or until ``STALL_GENERATIONS`` generations in a row
    bring nothing beyond the noise. The result becomes a ``tuned`` candidate (with the feedback notes of its sample)
    if it clearly beats its parent. Every phase is an event, one that a budget ends too; returns one line saying what
    it did, for the log and the next prompts (also when there was nothing to tune, and why)."""
    import cma

    from promptpo.candidate import Candidate, CandidateKind
    from promptpo.extract import check_program

    config = task.config
    parent = choose_parent(run.history, round_, tuned_before)
    if parent is None:
        why = nothing_to_tune(run.history, round_, tuned_before)
        run.event("tuning", parent=None, constants=0, evaluations=0, env_steps=0, improved=None,
                           stopped="nothing to tune", reason=why)
        return f"Tuning after round {round_ + 1}: nothing to tune ({why})."
    tuned_before.add(parent.id)
    constants, problems = declared_tunables(parent.code)
    worst = task.worst_case_steps()
    dimensions = max(MIN_DIMENSIONS, len(constants))  # a lone constant gets an unused partner
    popsize = generation_size(config.tune_evals, dimensions)
    allowance = phase_allowance(run, task, round_, generation=popsize * worst)
    if not constants or allowance < popsize * worst:
        run.event("tuning", parent=parent.id, constants=len(constants), evaluations=0, env_steps=0,
                           improved=None, stopped="nothing declared" if not constants else "share",
                           problems=problems)
        if not constants:
            return (f"Tuning after round {round_ + 1}: {parent.id} declares no TUNABLE constants"
                    + (f" ({'; '.join(problems)})" if problems else "") + ", so nothing was tuned.")
        tuned_before.discard(parent.id)  # not tried: it may be tuned when a phase can afford it
        return (f"Tuning after round {round_ + 1}: what is left of its share ({max(0.0, allowance):,.0f} env steps) "
                f"cannot pay for one generation of {popsize} evaluations (up to {popsize * worst:,} env steps), so "
                f"{parent.id} was not tuned.")
    start = [c.position() for c in constants] + [0.5] * (dimensions - len(constants))
    strategy = cma.CMAEvolutionStrategy(start, SIGMA0, {
        "popsize": popsize, "bounds": [0.0, 1.0], "seed": config.seed + 17 + round_, "verbose": -9})
    best: tuple[Evaluation, list[float], str] | None = None
    spent, steps, stale, stopped = 0, 0, 0, None
    leader = parent.evaluation
    note = f"tuning {len(constants)} constants of {parent.id}"
    target = task.target
    try:
        while stopped is None and spent + strategy.popsize <= config.tune_evals:
            samples, keys, gained = strategy.ask(), [], False
            for u in samples:
                if share_left(run, task) < worst or steps + worst > allowance:
                    stopped = "share"
                    break
                values = values_for(constants, u)
                code = substitute(parent.code, constants, values)
                evaluation = run.evaluate(code, note, tuning=True)
                spent += 1
                steps += evaluation.env_steps
                keys.append(sample_key(evaluation))
                if beats(evaluation, leader):
                    leader, gained = evaluation, True
                if evaluation.complete and evaluation.ok and (best is None
                                                              or evaluation.rank_key() > best[0].rank_key()):
                    best = (evaluation, values, code)
                    # a sample at the run's target ends the phase: the run stops there, the rest would be unused
                    if (target is not None and target.reached(evaluation.success_rate, evaluation.mean_return)
                            and beats(evaluation, parent.evaluation)):
                        stopped = "at_target"
                        break
            if stopped is not None:
                break
            strategy.tell(samples, fitness_of(keys))
            stale = 0 if gained else stale + 1
            if stale >= STALL_GENERATIONS:
                stopped = "stalled"
    except BaseException as stop:  # a budget or an interrupt: the phase is still recorded
        stopped = stop.status if isinstance(stop, StopRun) else RunStatus.INTERRUPTED
        raise
    finally:
        stopped = stopped or "evaluations"  # --tune-evals used up
        improved = None
        if best is not None and beats(best[0], parent.evaluation):
            evaluation, values, code = best
            task.notes_for(code, evaluation)
            id_, index = run.new_slot(round_)
            tuned = Candidate(id_, round_, index, CandidateKind.TUNED, parent.id, None,
                              check_program(code, task.entry, run.config.gate), evaluation,
                              [{"name": c.name, "line": c.line, "old": c.text, "new": f"{v:.6g}"}
                               for c, v in zip(constants, values) if f"{v:.6g}" != f"{c.value:.6g}"])
            run.record(tuned)
            improved = tuned.id
        run.event("tuning", parent=parent.id, constants=len(constants), evaluations=spent,
                           env_steps=steps, improved=improved, stopped_at_target=stopped == "at_target",
                           stopped=stopped, problems=problems)
    why = {"stalled": f"{STALL_GENERATIONS} generations in a row brought no gain beyond the noise",
           "share": "its share of env steps for this phase was spent", "at_target": "a sample reached the target",
           "evaluations": "its evaluations (--tune-evals) were used up"}.get(stopped, stopped)
    result = (f"it made {improved}, clearly better than {parent.id}" if improved
              else f"no sample was clearly better than {parent.id}, which stays as it is")
    return (f"Tuning after round {round_ + 1}: {len(constants)} constant{'s' if len(constants) != 1 else ''} of {parent.id}, "
            f"{spent} evaluation{'s' if spent != 1 else ''} ({steps:,} env steps), stopped because {why}: {result}.")
