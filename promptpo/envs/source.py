"""The installed source of an environment's reward and success code, as the prompt shows it.

Taken with ``inspect`` from the installed package, so it is never a stale hand copy. Branches on
a construction-time setting (Meta-World's ``reward_function_version``) are resolved against the
live environment: only the code that actually runs is shown, with a comment saying which setting
chose it.
"""

from __future__ import annotations

import ast
import functools
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


FRAMEWORK = ("gymnasium.core", "gymnasium.envs.mujoco.mujoco_env", "gymnasium.utils", "gymnasium.wrappers",
             "builtins", "typing", "abc")
"""Modules whose classes are simulator plumbing, not the task: their methods are never followed."""

PLUMBING = frozenset({"render", "reset", "reset_model", "step", "do_simulation", "set_state", "close", "seed",
                      "_get_obs", "_get_reset_info", "_get_curr_obs_combined_no_goal", "_get_pos_objects",
                      "_get_quat_objects", "_get_site_pos", "_get_obs_dict", "set_xyz_action", "set_task",
                      "_get_id_main_object", "touching_object", "touching_main_object", "_set_obj_xyz",
                      "_set_pos_site", "_get_state_rand_vec", "_last_rand_vec", "sample_tasks", "isV2",
                      "tcp_center", "model_name", "_target_site_config", "_get_site_pos"})
"""Methods that move the simulator or build the observation: shown only when asked for as a root."""

MAX_HELPERS = 12


def reward_code(cls: type, roots: Sequence[str], fixed: Mapping[str, Any] | None = None,
                instance: Any = None) -> str:
    """The source of ``roots`` (methods of ``cls``) and of every helper they reach — methods and properties of
    the environment's own classes, functions of its package's modules (e.g. Meta-World's ``reward_utils``) —
    each once, in the order reached, with construction-time branches resolved (``fixed``: see
    ``live_branches``) before their calls are followed, so a dead branch's helpers are not shown either.
    Ends with the values of the plain numbers the shown code reads (``self.NAME`` from ``instance`` or the
    class, module-level UPPER_CASE constants), as comments."""
    package = cls.__module__.split(".")[0]
    queue: list[tuple[str, Any]] = [(name, fn) for name, fn in zip(roots, methods_defining(cls, roots))]
    queue = [(getattr(fn, "__name__", name), fn) for name, fn in queue]
    seen: set[int] = set()
    parts: list[str] = []
    values: dict[str, Any] = {}
    while queue and len(parts) < len(roots) + MAX_HELPERS:
        name, fn = queue.pop(0)
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        try:
            text = textwrap.dedent(inspect.getsource(fn)).rstrip()
        except (OSError, TypeError):
            continue
        text = live_branches(text, fixed) if fixed else text
        if instance is not None and hasattr(instance, "render_mode"):
            text = without_rendering(text, instance.render_mode)
        if len(parts) >= len(roots):  # a helper: its docstring's first line says enough
            text = first_line_docstring(text)
        parts.append(text)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        scope = getattr(fn, "__globals__", {})
        for found, value in _reached(tree, cls, scope, package, instance):
            if found == "value":
                values.update(value)
            elif id(value) not in seen:
                queue.append(("", value))
    if values:
        lines = [f"#   {name} = {_short(value)}" for name, value in sorted(values.items())]
        parts.append("# Values the code above reads, from the installed environment:\n" + "\n".join(lines))
    return "\n\n".join(parts)


def without_rendering(source: str, render_mode: Any) -> str:
    """``source`` without the ``if self.render_mode ...:`` blocks (and no ``else``) that do not run for the live
    ``render_mode``: runs make their environments without rendering, so drawing (and helpers only drawing calls,
    such as LunarLander's particles) is not the task. Each block becomes a one-line comment."""
    for _ in range(20):  # one block at a time: line numbers change after each cut
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return source
        only_child = {id(block[0]) for node in ast.walk(tree) for block in _blocks(node) if len(block) == 1}
        for node in ast.walk(tree):
            if not isinstance(node, ast.If) or node.orelse:
                continue
            decided = _decide(node.test, {"render_mode": render_mode})
            if decided is None or decided[0]:
                continue
            indent = " " * node.col_offset
            condition = ast.get_source_segment(source, node.test) or "self.render_mode"
            lines = source.splitlines()
            cut = [f"{indent}# rendering left out: `{condition}` is False in these runs"]
            lines[node.lineno - 1:node.end_lineno] = cut + ([f"{indent}pass"] if id(node) in only_child else [])
            source = "\n".join(lines)
            break
        else:
            return source
    return source


def _blocks(node: ast.AST) -> list[list[ast.stmt]]:
    return [getattr(node, name) for name in ("body", "orelse", "finalbody")
            if isinstance(getattr(node, name, None), list) and getattr(node, name)
            and isinstance(getattr(node, name)[0], ast.stmt)]


def _own(cls: type, name: str) -> Any:
    """``name`` as the env's own classes define it (a function or property), or None (framework, absent)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            if klass.__module__.startswith(FRAMEWORK) or name in PLUMBING:
                return None
            attr = vars(klass)[name]
            if isinstance(attr, property):
                return attr.fget
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            fn = undecorated(attr, name) if inspect.isfunction(attr) else None
            return fn if inspect.isfunction(fn) else None  # (a nested class, e.g. _Decorators, is not a helper)
    return None


def _reached(tree: ast.AST, cls: type, scope: Mapping[str, Any], package: str, instance: Any):
    """("code", function) for helpers the tree calls or reads; ("value", {name: number}) for plain values."""
    import types

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "self":
                helper = _own(cls, node.attr)
                if helper is not None:
                    yield "code", helper
                    continue
                declared = _class_value(cls, node.attr)
                if isinstance(declared, property) or not (_setting(node.attr) or _constructed(cls, node.attr)):
                    continue  # computed from the state, or state itself (e.g. obj_init_pos): no one value to state
                value = getattr(instance, node.attr, None) if instance is not None else declared
                if _plain(value):
                    yield "value", {f"self.{node.attr}": value}
                continue
            module = scope.get(node.value.id)
            if isinstance(module, type) and module.__module__.split(".")[0] == package:  # Class._helper(...)
                helper = _own(module, node.attr)
                if helper is not None:
                    yield "code", helper
                elif node.attr.isupper() and _plain(_class_value(module, node.attr)):
                    yield "value", {f"{node.value.id}.{node.attr}": _class_value(module, node.attr)}
                continue
            if isinstance(module, types.ModuleType) and module.__name__.split(".")[0] == package:
                target = getattr(module, node.attr, None)
                if isinstance(target, types.FunctionType):
                    yield "code", target
                elif node.attr.isupper() and _plain(target):
                    yield "value", {f"{node.value.id}.{node.attr}": target}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            target = scope.get(node.id)
            if isinstance(target, types.FunctionType) and target.__module__.split(".")[0] == package:
                yield "code", target
            elif node.id.isupper() and _plain(target):
                yield "value", {node.id: target}


def _setting(name: str) -> bool:
    """Names environments give their settings: UPPER_CASE (Meta-World) or private (``_healthy_z_range``), not
    positions set at reset."""
    return name.isupper() or (name.startswith("_") and not any(w in name for w in ("pos", "init", "last", "prev")))


CONSTRUCTION = frozenset({"__init__"})
"""Methods that run once, when the environment is made: what only they store on ``self`` is a setting."""


def _constructed(cls: type, name: str) -> bool:
    """Whether ``self.NAME`` is a setting though named in lower case (LunarLander's ``enable_wind``,
    ``wind_power``, ``continuous``): the env's classes store it only while the environment is made, or
    declare it in a class body and never store it. State (``wind_idx``, ``helipad_y``, ``prev_shaping``,
    set in ``reset`` or ``step``) and attributes whose stores cannot be read (no source) are not."""
    stores = _stores(cls)
    if stores is None:
        return False
    where = stores.get(name)
    if where is None:
        return any(name in vars(klass) for klass in cls.__mro__ if klass is not object)
    return bool(where) and where <= CONSTRUCTION


@functools.cache
def _stores(cls: type) -> dict[str, frozenset[str]] | None:
    """Every attribute the methods of ``cls`` and its bases store on ``self`` (``self.x = ...``, ``self.x += ...``,
    ``self.a, self.b = ...``), with the names of the methods that store it; None when a class's source is missing
    (then no attribute can be shown to be set only at construction)."""
    found: dict[str, set[str]] = {}
    for klass in cls.__mro__:
        if klass is object or klass.__module__ == "builtins":
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            if klass.__module__.startswith(("typing", "abc")):
                continue
            return None
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for method in body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(method):
                if (isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del))
                        and isinstance(node.value, ast.Name) and node.value.id == "self"):
                    found.setdefault(node.attr, set()).add(method.name)
    return {name: frozenset(methods) for name, methods in found.items()}


def _class_value(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _plain(value: Any) -> bool:
    """A number, a flag, or a short vector of numbers: worth stating, cheap to state."""
    import numpy as np

    if isinstance(value, (bool, int, float, np.number)):
        return True
    if isinstance(value, (tuple, list, np.ndarray)):
        if isinstance(value, np.ndarray) and value.dtype == object:
            return False
        flat = np.asarray(value, dtype=object).ravel()
        return 0 < flat.size <= 8 and all(isinstance(v, (bool, int, float, np.number)) for v in flat)
    return False


def _short(value: Any) -> str:
    import numpy as np

    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.number):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def first_line_docstring(source: str) -> str:
    """``source`` (one function) with its docstring cut to the first line."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    fn = tree.body[0] if tree.body else None
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or not fn.body:
        return source
    doc = fn.body[0]
    if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
        return source
    if doc.lineno == doc.end_lineno:
        return source
    lines = source.splitlines()
    summary = (doc.value.value.strip().splitlines() or [""])[0].replace('"""', "'")
    lines[doc.lineno - 1:doc.end_lineno] = [" " * doc.col_offset + '"""' + summary + '"""']
    return "\n".join(lines)
