"""The success rule of a MiniGrid env, read from the ``step`` code of its class and its bases: which
assignments of ``reward`` come with the end of the episode, and under which conditions."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
from minigrid.minigrid_env import MiniGridEnv

from promptpo.envs.minigrid.mission import join_words, template
from promptpo.envs.source import undecorated

AGENT_STATE = frozenset({"actions", "carrying", "agent_pos", "agent_dir", "grid", "step_count", "max_steps",
                         "front_pos", "dir_vec", "action_space", "np_random", "_reward"})
"""``self`` attributes every MiniGrid env has: the agent's state, not a task setting worth measuring."""


@dataclass(frozen=True)
class Rule:
    """One way ``step`` ends an episode: the conditions on its path, the reward it sets (None: left as it was)."""

    owner: str
    conditions: tuple[str, ...]
    reward: str | None
    attrs: tuple[str, ...]
    """``self`` attributes the conditions read (with their local definitions), agent state left out."""
    types: tuple[str, ...]
    """Object types the conditions require (``x.type == "goal"``)."""
    where: tuple[str, ...]

    def text(self) -> str:
        conditions = " and ".join(f"`{c}`" for c in self.conditions) or "always"
        where = f" (where {'; '.join(self.where)})" if self.where else ""
        return f"in {self.owner}.step when {conditions}{where}"


def step_classes(cls: type) -> list[type]:
    """The classes whose ``step`` runs, the env's own first, down to MiniGridEnv (each calls the next)."""
    return [k for k in cls.__mro__ if "step" in vars(k) and issubclass(k, MiniGridEnv)]


def step_rules(cls: type) -> list[Rule]:
    """Every path of every ``step`` in the chain that ends the episode (``terminated = True`` in its block or
    an enclosing one), with the reward assigned on it."""
    rules: list[Rule] = []
    for klass in step_classes(cls):
        try:
            func = ast.parse(textwrap.dedent(inspect.getsource(undecorated(vars(klass)["step"], "step")))).body[0]
        except (OSError, TypeError, SyntaxError, IndexError):
            continue
        rules += _rules_of(klass.__name__, func)
    return rules


def _rules_of(owner: str, func: ast.FunctionDef) -> list[Rule]:
    defs: dict[str, tuple[ast.stmt, bool]] = {}
    base_line = next((s.lineno for s in func.body if any(_is_super_step(n) for n in ast.walk(s))), None)
    for stmt in func.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            names = [target] if isinstance(target, ast.Name) else list(getattr(target, "elts", []))
            for name in names:
                if isinstance(name, ast.Name) and name.id not in defs:
                    defs[name.id] = (stmt, base_line is not None and stmt.lineno < base_line)
    found: list[Rule] = []

    def walk(body: list[ast.stmt], conditions: list[ast.expr], ends: bool) -> None:
        here = any(_sets(s, "terminated") == "True" for s in body)
        ends = ends or here
        rewards = [r for r in (_sets(s, "reward") for s in body) if r is not None]
        if ends and (rewards or here):
            found.append(_rule(owner, conditions, rewards[-1] if rewards else None, defs, base_line))
        for stmt in body:
            if isinstance(stmt, ast.If):
                walk(stmt.body, conditions + [stmt.test], ends)
                if stmt.orelse:
                    walk(stmt.orelse, conditions + [ast.UnaryOp(ast.Not(), stmt.test)], ends)
            elif isinstance(stmt, (ast.For, ast.While, ast.With, ast.Try)):
                walk(stmt.body, conditions, ends)

    walk(func.body, [], False)
    return [r for r in found if r.conditions or r.reward is not None]


def _is_super_step(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "step"
            and isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", "") == "super")


def _sets(stmt: ast.stmt, name: str) -> str | None:
    """The source of the value ``stmt`` assigns to the plain name ``name``, else None."""
    if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == name):
        return ast.unparse(stmt.value)
    return None


def _rule(owner: str, conditions: list[ast.expr], reward: str | None, defs: dict, base_line: int | None) -> Rule:
    equal = {ast.unparse(c.left) for c in conditions if _is_eq(c)}
    kept = [c for c in conditions  # `not (action == left)` says nothing once `action == forward` holds
            if not (isinstance(c, ast.UnaryOp) and _is_eq(c.operand) and ast.unparse(c.operand.left) in equal)]
    used, queue = [], [n.id for c in kept for n in ast.walk(c) if isinstance(n, ast.Name)]
    while queue:
        name = queue.pop(0)
        if name in defs and name not in used:
            used.append(name)
            queue += [n.id for n in ast.walk(defs[name][0].value) if isinstance(n, ast.Name)]
    stmts = sorted({id(defs[n][0]): defs[n] for n in used}.values(), key=lambda d: d[0].lineno)
    where = tuple(f"`{ast.unparse(s)}`" + ((" before the base step runs" if before else " after it")
                                          if base_line is not None else "") for s, before in stmts)
    nodes = [*kept, *(s.value for s, _ in stmts)]
    attrs = sorted({n.attr for c in nodes for n in ast.walk(c) if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Name) and n.value.id == "self" and n.attr not in AGENT_STATE})
    types = sorted({t for c in kept for t in _required_types(c)})
    return Rule(owner, tuple(ast.unparse(c) for c in kept), reward, tuple(attrs), tuple(types), where)


def _is_eq(node: ast.AST) -> bool:
    return isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)


def _required_types(node: ast.expr) -> set[str]:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return set().union(*(_required_types(v) for v in node.values))
    if (_is_eq(node) and isinstance(node.left, ast.Attribute) and node.left.attr == "type"
            and isinstance(node.comparators[0], ast.Constant) and isinstance(node.comparators[0].value, str)):
        return {node.comparators[0].value}
    return set()


def pays(rule: Rule, env: Any) -> bool:
    """Whether a rule may end the episode with a positive reward (a reward whose sign cannot be told counts)."""
    sign = reward_sign(rule.reward, env)
    return rule.reward is not None and (sign is None or sign > 0)


def reward_sign(expression: str | None, env: Any) -> int | None:
    """+1, 0 or -1 for the reward a rule sets; ``self._reward()`` is measured at the first and the last step."""
    if expression is None:
        return None
    try:
        return int(np.sign(float(ast.literal_eval(expression))))
    except (ValueError, TypeError, SyntaxError):
        pass
    if expression == "self._reward()":
        u = env.unwrapped
        kept = getattr(u, "step_count", 0)
        try:
            values = []
            for steps in (1, u.max_steps):
                u.step_count = steps
                values.append(float(u._reward()))
        finally:
            u.step_count = kept
        return 1 if min(values) > 0 else None
    return None


def success_text(rules: list[Rule], described: dict[str, list[str]], seeds: str) -> str:
    head = "An episode succeeds when the environment ends it (terminated) with a reward > 0."
    if not rules:
        return (head + " No rule in the installed step code can do that in this environment (its only rewarded "
                "rules need objects its grid never holds), so no episode can succeed.")
    ways = "; or ".join(f"{r.text()}, with reward `{r.reward}`" for r in rules)
    named = sorted({a for r in rules for a in r.attrs if a in described})
    gloss = "; ".join(f"`self.{a}` is {_summary(described[a])}" for a in named)
    return f"{head} In the installed code that happens {ways}." + (f" Measured after reset ({seeds}): {gloss}."
                                                                    if gloss else "")


def _summary(values: list[str]) -> str:
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return distinct[0] + " on every seed"
    common = template(distinct)
    if common and "{...}" not in common:
        varying = [w for w in ("{colour}", "{object}") if w in common]
        return f"{common}, where {join_words(varying, 'and')} {'varies' if len(varying) == 1 else 'vary'} with the seed"
    return " / ".join(distinct[:3]) + (" / ..." if len(distinct) > 3 else "")
