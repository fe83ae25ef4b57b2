"""Each observation element of a Box2D env read from the installed ``step`` code (the one Box2D quantity it
reads and the scale applied to it, evaluated with the module's constants), then checked on a random rollout."""

from __future__ import annotations

import ast
import inspect
import math
import operator
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEED = 0


ROLLOUT_STEPS = 400
"""Random steps each element is checked on (several episodes: a random walker falls, a random lander crashes)."""


OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
       ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


Chain = tuple  # ("self", "lander", "position", "x"): an attribute path from the env, with integer indices


@dataclass
class Element:
    index: int
    code: str
    expr: ast.expr | None
    aliases: dict[str, Chain] = field(default_factory=dict)
    """Local names of ``step`` bound to an env path where the element is built (``pos = self.lander.position``)."""
    bound: dict[str, Chain] = field(default_factory=dict)
    """Comprehension variables: name -> the path it stands for at this element (``l`` -> ``self.lidar[3]``)."""
    leaf: Chain | None = None
    flag: tuple[float, float] | None = None
    """(value when the leaf is true, value when false), for ``1.0 if <leaf> else 0.0``."""
    affine: tuple[float, float] | None = None
    """(a, b): the element is a x leaf + b."""
    checked: bool = False
    low: float = math.inf
    high: float = -math.inf


class Unknown(Exception):
    pass


def step_method(cls: type) -> Any:
    return inspect.unwrap(cls.step)


Part = tuple[str, ast.AST, str, dict]
"""("item", an element's expression, or "comprehension", a ListComp; the source; the aliases where it is built)."""


def observation_code(cls: type) -> tuple[list[Part], str] | None:
    """The parts of the list ``step`` returns as the observation, in order, and the list's name; None when
    ``step`` does not build it as a list literal (extended only by ``+=`` a list or a one-loop comprehension)."""
    try:
        source = textwrap.dedent(inspect.getsource(step_method(cls)))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    func = tree.body[0]
    returns = [n for n in ast.walk(func) if isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple)
               and n.value.elts]
    if not returns:
        return None
    first = returns[-1].value.elts[0]
    if isinstance(first, ast.Call) and first.args:
        first = first.args[0]
    if not isinstance(first, ast.Name):
        return None
    name = first.id
    aliases: dict[str, Chain] = {}
    parts: list[Part] | None = None
    for stmt in _statements(func.body):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target = stmt.targets[0].id
            if target == name:
                parts = [("item", e, source, dict(aliases)) for e in stmt.value.elts] \
                    if isinstance(stmt.value, ast.List) else None
            else:
                chain = path_of(stmt.value, aliases)
                if chain is not None:
                    aliases[target] = chain
                else:
                    aliases.pop(target, None)
        elif (isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add) and isinstance(stmt.target, ast.Name)
              and stmt.target.id == name and parts is not None):
            if isinstance(stmt.value, ast.List):
                parts += [("item", e, source, dict(aliases)) for e in stmt.value.elts]
            elif isinstance(stmt.value, ast.ListComp) and len(stmt.value.generators) == 1 \
                    and not stmt.value.generators[0].ifs:
                parts.append(("comprehension", stmt.value, source, dict(aliases)))
            else:
                return None
        elif (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
              and isinstance(stmt.value.func, ast.Attribute) and isinstance(stmt.value.func.value, ast.Name)
              and stmt.value.func.value.id == name and parts is not None):
            return None  # .append / .extend: not followed
    return (parts, name) if parts else None


def _statements(body: list[ast.stmt]):
    """Statements in order, nested blocks included (an ``if`` around part of the list is still followed)."""
    for stmt in body:
        yield stmt
        for block in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, block, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                yield from _statements(inner)


def expand(parts: list[Part], unwrapped: Any) -> list[Element]:
    """One Element per observation element; a comprehension gives one per item of its (live) iterable."""
    elements: list[Element] = []
    for kind, node, source, aliases in parts:
        if kind == "item":
            elements.append(Element(len(elements), ast.get_source_segment(source, node) or ast.unparse(node), node,
                                    aliases))
            continue
        generator = node.generators[0]
        over = path_of(generator.iter, aliases)
        try:
            items = len(live_value(unwrapped, over)) if over is not None else None
        except (AttributeError, IndexError, TypeError, KeyError):
            items = None
        if items is None or not isinstance(generator.target, ast.Name):
            elements.append(Element(len(elements), ast.unparse(node), None))  # its length is unknown: fails the count
            continue
        for k in range(items):
            bound = {generator.target.id: (*over, k)}
            leaf = path_of(node.elt, aliases, bound)
            code = chain_text(leaf) if leaf is not None else f"{ast.unparse(node)}, item {k}"
            elements.append(Element(len(elements), code, node.elt, aliases, bound))
    return elements


def path_of(node: ast.AST, aliases: dict[str, Chain], bound: dict[str, Chain] | None = None) -> Chain | None:
    """The attribute path ``node`` reads from the env (``pos.x`` with ``pos = self.lander.position`` gives
    ("self", "lander", "position", "x")), or None."""
    parts: list[Any] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, int):
            parts.append(node.slice.value)
            node = node.value
        elif isinstance(node, ast.Name):
            if node.id == "self":
                return ("self", *reversed(parts))
            if bound and node.id in bound:
                return (*bound[node.id], *reversed(parts))
            if node.id in aliases:
                return (*aliases[node.id], *reversed(parts))
            return None
        else:
            return None


def live_value(unwrapped: Any, chain: Chain) -> Any:
    value = unwrapped
    for part in chain[1:]:
        value = value[part] if isinstance(part, int) else getattr(value, part)
    return value


def _leaves(node: ast.AST, aliases: dict, bound: dict) -> list[Chain]:
    if isinstance(node, (ast.Attribute, ast.Subscript, ast.Name)):
        chain = path_of(node, aliases, bound)
        if chain is not None:
            return [chain]
    return [leaf for child in ast.iter_child_nodes(node) for leaf in _leaves(child, aliases, bound)]


def analyse(element: Element, unwrapped: Any, scope: dict) -> None:
    """The one simulator quantity the element reads (its leaf) and how: a flag, or a x leaf + b."""
    if element.expr is None:
        return
    aliases = element.aliases
    expr = element.expr
    if isinstance(expr, ast.IfExp) and isinstance(expr.body, ast.Constant) and isinstance(expr.orelse, ast.Constant):
        leaf = path_of(expr.test, aliases, element.bound)
        if leaf is not None and all(isinstance(c.value, (int, float)) for c in (expr.body, expr.orelse)):
            element.leaf, element.flag = leaf, (float(expr.body.value), float(expr.orelse.value))
        return
    state = {leaf for leaf in _leaves(expr, aliases, element.bound) if len(leaf) >= 3}  # self.<body>.<quantity>
    if len(state) != 1:
        return
    element.leaf = next(iter(state))
    try:
        f0, f1, f2 = (evaluate(expr, element, unwrapped, scope, q) for q in (0.0, 1.0, 2.0))
    except Unknown:
        return
    if abs(f2 - (2 * f1 - f0)) <= 1e-9 * (1 + abs(f2)) and f1 != f0:
        element.affine = (f1 - f0, f0)


def evaluate(node: ast.AST, element: Element, unwrapped: Any, scope: dict, q: float) -> float:
    """The element's value for leaf = q: arithmetic on numbers, module constants and the env's settings only."""
    aliases = element.aliases
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, (ast.Attribute, ast.Subscript, ast.Name)):
        chain = path_of(node, aliases, element.bound)
        if chain is not None and chain == element.leaf:
            return q
        if chain is not None and len(chain) == 2:
            value = live_value(unwrapped, chain)
        elif chain is None and isinstance(node, ast.Name):
            value = scope.get(node.id)
        else:
            raise Unknown
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            return float(value)
        raise Unknown
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        try:
            return float(OPS[type(node.op)](evaluate(node.left, element, unwrapped, scope, q),
                                            evaluate(node.right, element, unwrapped, scope, q)))
        except (ZeroDivisionError, OverflowError, TypeError) as err:
            raise Unknown from err
    if isinstance(node, ast.UnaryOp) and type(node.op) in OPS:
        return OPS[type(node.op)](evaluate(node.operand, element, unwrapped, scope, q))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("float", "abs") \
            and len(node.args) == 1 and not node.keywords:
        value = evaluate(node.args[0], element, unwrapped, scope, q)
        return abs(value) if node.func.id == "abs" else value
    raise Unknown


def _expected(element: Element, unwrapped: Any, scope: dict) -> float | None:
    try:
        value = live_value(unwrapped, element.leaf)
    except (AttributeError, IndexError, TypeError, KeyError):
        return None
    if element.flag is not None:
        return element.flag[0] if value else element.flag[1]
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool):
        return None
    if element.affine is not None:
        return element.affine[0] * float(value) + element.affine[1]
    try:
        return evaluate(element.expr, element, unwrapped, scope, float(value))
    except Unknown:
        return None


def check(env: Any, elements: list[Element], scope: dict) -> int:
    """Step with random actions; an element is checked when it equals its leaf (scaled) at every step."""
    unwrapped = env.unwrapped
    candidates = [e for e in elements if e.leaf is not None]
    good = {e.index: True for e in candidates}
    env.reset(seed=SEED)
    env.action_space.seed(SEED)
    for t in range(ROLLOUT_STEPS):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        obs = np.asarray(obs, dtype=float).ravel()
        for element in candidates:
            value = obs[element.index]
            element.low, element.high = min(element.low, value), max(element.high, value)
            if not good[element.index]:
                continue
            expected = _expected(element, unwrapped, scope)
            good[element.index] = expected is not None and bool(
                np.isclose(value, np.float32(expected), rtol=1e-5, atol=1e-6))
        if terminated or truncated:
            env.reset(seed=SEED + t + 1)
    for element in candidates:
        element.checked = good[element.index]
    return ROLLOUT_STEPS


def chain_text(chain: Chain) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (p if k == 0 else f".{p}") for k, p in enumerate(chain))
