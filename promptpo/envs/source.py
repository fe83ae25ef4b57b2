"""The installed source of an environment's reward and success code, as the prompt shows it.

Taken with ``inspect`` from the installed package, so it is never a stale hand copy. Branches on
a construction-time setting (Meta-World's ``reward_function_version``) are resolved against the
live environment: only the code that actually runs is shown, with a comment saying which setting
chose it.
"""

from __future__ import annotations

import ast
import inspect
import operator
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

COMPARISONS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Is: operator.is_, ast.IsNot: operator.is_not,
               ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


def source_of(*objects: Any, fixed: Mapping[str, Any] | None = None) -> str:
    """The installed source of functions or methods, dedented and joined.

    ``fixed`` maps attribute names to their values in the live environment; ``if self.NAME == ...``
    branches on them are reduced to the branch that runs (see ``live_branches``).
    """
    parts = []
    for obj in objects:
        try:
            text = textwrap.dedent(inspect.getsource(obj)).rstrip()
        except (OSError, TypeError):
            parts.append(f"# source of {getattr(obj, '__qualname__', obj)!r} is not available")
            continue
        parts.append(live_branches(text, fixed) if fixed else text)
    return "\n\n".join(parts)


def methods_defining(cls: type, names: Sequence[str]) -> list[Any]:
    """The methods among ``names`` that ``cls`` or its bases define (first definition wins),
    with decorators peeled off so the source shown is the method's own."""
    found = []
    for name in names:
        for klass in cls.__mro__:
            if name in vars(klass):
                found.append(undecorated(vars(klass)[name], name))
                break
    return found


def undecorated(fn: Any, name: str) -> Any:
    """Follow ``__wrapped__`` and, for decorators without functools.wraps, the closure."""
    fn = inspect.unwrap(fn)
    for _ in range(5):
        if getattr(fn, "__name__", name) == name:
            return fn
        inner = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ())
                 if callable(getattr(c, "cell_contents", None)) and getattr(c.cell_contents, "__name__", "") == name]
        if not inner:
            return fn
        fn = inspect.unwrap(inner[0])
    return fn


def _decide(test: ast.expr, fixed: Mapping[str, Any]) -> tuple[bool, str] | None:
    """(whether ``test`` holds, the attribute it reads) for ``self.NAME <op> CONSTANT``; else None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in COMPARISONS):
        return None
    left, right = test.left, test.comparators[0]
    if not (isinstance(left, ast.Attribute) and isinstance(left.value, ast.Name) and left.value.id == "self"
            and left.attr in fixed):
        return None
    try:
        constant = ast.literal_eval(right)
    except ValueError:
        return None
    return bool(COMPARISONS[type(test.ops[0])](fixed[left.attr], constant)), left.attr


def live_branches(source: str, fixed: Mapping[str, Any]) -> str:
    """``source`` with every ``if self.NAME <op> CONSTANT:`` (NAME in ``fixed``) replaced by the branch
    that runs for the fixed value, preceded by a comment naming the setting; ``elif`` chains included."""
    for _ in range(50):  # one branch at a time: line numbers change after each cut
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return source
        lines = source.splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, ast.If):
                continue
            decided = _decide(node.test, fixed)
            if decided is None:
                continue
            holds, attr = decided
            branch = node.body if holds else node.orelse
            indent = " " * node.col_offset
            condition = ast.get_source_segment(source, node.test) or attr
            note = (f"{indent}# `{condition}` is {holds} in the installed environment (self.{attr} = "
                    f"{fixed[attr]!r}): only the branch that runs is shown")
            keep: list[str] = []
            if branch:
                first, last = branch[0].lineno, branch[-1].end_lineno
                block = textwrap.dedent("\n".join(lines[first - 1:last]))
                if block.startswith("elif "):  # the rest of an elif chain becomes an if of its own
                    block = block[2:]
                keep = [indent + line if line else line for line in block.splitlines()]
            lines[node.lineno - 1:node.end_lineno] = [note, *keep] if keep else [note, f"{indent}pass"]
            source = "\n".join(lines)
            break
        else:
            return source
    return source
