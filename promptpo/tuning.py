"""Constant tuning (``--tune-constants``): CMA-ES over a program's numeric literals, no LLM call.

The tunable literals are found with ``ast``: float literals and integer factors in arithmetic
(gains, thresholds, offsets), but not indices, slices, shapes, sizes, loop bounds, clip bounds,
default arguments or keyword arguments such as ``axis``. Each is searched multiplicatively around its value (``c * e**z``;
zeros additively), starting from the program as written.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import numpy as np

from promptpo.candidate import fitness_of, ranked, sample_key
from promptpo.evaluate import Evaluation

SHAPE_CALLS = frozenset({"range", "zeros", "ones", "empty", "full", "reshape", "arange", "eye", "identity",
                         "linspace", "randint", "choice", "repeat", "tile", "resize", "deque", "round", "len"})
SHAPE_KEYWORDS = frozenset({"axis", "size", "shape", "dtype", "ndim", "decimals", "ord", "k", "maxlen", "minlength"})
Z_BOUND = 4.0
"""Each constant may move by up to a factor e**4 (about 55) either way."""
STALL_GENERATIONS = 3
"""A tuning phase stops when this many generations in a row bring no sample that beats the phase's leader
(the parent, then each sample that beat it) beyond the noise (``beats``)."""


@dataclass(frozen=True)
class Constant:
    line: int
    col: int
    end_col: int
    value: float
    text: str


def tunable_constants(code: str) -> list[Constant]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return []  # nothing to tune in code that cannot be parsed
    excluded: set[int] = set()
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
        if isinstance(node, ast.Subscript):
            excluded |= {id(n) for n in ast.walk(node.slice)}
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in SHAPE_CALLS:
                for arg in node.args[:1] if name == "full" else node.args:
                    excluded |= {id(n) for n in ast.walk(arg)}
            if name == "clip":  # clip bounds are the action space's, not a behaviour to tune
                for arg in node.args[1:]:
                    excluded |= {id(n) for n in ast.walk(arg)}
            for keyword in node.keywords:
                if keyword.arg in SHAPE_KEYWORDS:
                    excluded |= {id(n) for n in ast.walk(keyword.value)}
        elif isinstance(node, ast.arguments):  # default argument values are interface, not behaviour
            excluded |= {id(n) for d in (*node.defaults, *node.kw_defaults) if d is not None for n in ast.walk(d)}
    lines = code.splitlines()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in excluded or isinstance(node.value, bool):
            continue
        if not isinstance(node.value, (int, float)) or node.end_lineno != node.lineno:
            continue
        parent = parents.get(id(node))
        if isinstance(node.value, int) and not (isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Mult, ast.Div))):
            continue  # integers are ids, counts and indices unless they scale something
        target, value = node, float(node.value)
        if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub):
            target, value = parent, -value
        text = lines[target.lineno - 1][target.col_offset:target.end_col_offset]
        found.append(Constant(target.lineno, target.col_offset, target.end_col_offset, value, text))
    return sorted(set(found), key=lambda c: (c.line, c.col))


def values_for(constants: list[Constant], z: np.ndarray) -> list[float]:
    return [c.value * math.exp(x) if c.value != 0 else float(x) for c, x in zip(constants, z)]


def substitute(code: str, constants: list[Constant], values: list[float]) -> str:
    lines = code.splitlines(keepends=True)
    for c, value in sorted(zip(constants, values), key=lambda cv: (cv[0].line, cv[0].col), reverse=True):
        row = lines[c.line - 1]
        literal = f"{value:.6g}"
        if "." not in literal and "e" not in literal:
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


def tune(engine, config, round_: int) -> None:
    """One tuning phase: CMA-ES over the best program's constants, evaluated through the engine (its budgets
    and counts), for ``tune_evals`` evaluations, until a sample reaches the run's target, or until
    ``STALL_GENERATIONS`` generations in a row bring nothing beyond the noise; the result becomes a ``tuned``
    candidate if it clearly beats its parent."""
    import cma

    from promptpo.candidate import Candidate
    from promptpo.extract import check_program

    parent = ranked(engine.history)[0]  # the best, or where none is complete yet the best a cascade stopped
    constants = tunable_constants(parent.code)
    if not constants:
        engine.store.event("tuning", parent=parent.id, constants=0, evaluations=0, env_steps=0, improved=None)
        return
    popsize = min(config.tune_evals, 4 + int(3 * np.log(len(constants))))
    strategy = cma.CMAEvolutionStrategy(np.zeros(len(constants)), 1.0, {
        "popsize": max(2, popsize), "bounds": [-Z_BOUND, Z_BOUND], "seed": config.seed + 17 + round_, "verbose": -9})
    best: tuple[Evaluation, list[float], str] | None = None
    spent, steps, done, stale = 0, 0, False, 0
    leader = parent.evaluation
    note = f"tuning {len(constants)} constants of {parent.id}"
    target = engine.task.target
    while spent + strategy.popsize <= config.tune_evals and not done and stale < STALL_GENERATIONS:
        samples, keys, gained = strategy.ask(), [], False
        for z in samples:
            values = values_for(constants, z)
            code = substitute(parent.code, constants, values)
            evaluation = engine.evaluate(code, note, tuning=True)
            spent += 1
            steps += evaluation.env_steps
            keys.append(sample_key(evaluation))
            if beats(evaluation, leader):
                leader, gained = evaluation, True
            if evaluation.complete and evaluation.ok and (best is None or evaluation.rank_key() > best[0].rank_key()):
                best = (evaluation, values, code)
                # a sample at the run's target ends the phase: the run stops there, the rest would be unused
                done = (target is not None and target.reached(evaluation.success_rate, evaluation.mean_return)
                        and beats(evaluation, parent.evaluation))
                if done:
                    break
        if not done:
            strategy.tell(samples, fitness_of(keys))
            stale = 0 if gained else stale + 1
    improved = None
    if best is not None and beats(best[0], parent.evaluation):
        evaluation, values, code = best
        id_, index = engine.new_slot(round_)
        tuned = Candidate(id_, round_, index, "tuned", parent.id, None,
                          check_program(code, engine.task.entry, engine.config.gate),
                          evaluation,
                          [{"line": c.line, "old": c.text, "new": f"{v:.6g}"}
                           for c, v in zip(constants, values) if f"{v:.6g}" != f"{c.value:.6g}"])
        engine.record(tuned)
        improved = tuned.id
    stopped = "at_target" if done else "stalled" if stale >= STALL_GENERATIONS else "budget"
    engine.store.event("tuning", parent=parent.id, constants=len(constants), evaluations=spent, env_steps=steps,
                       improved=improved, stopped_at_target=done, stopped=stopped)
