"""Classes in a program: what keeps a method's own ``self`` an instance, and what a class may be built from.

A method of the program's own class reads private attributes of its ``self`` (promptpo.gate.scopes). That is sound
only while ``self`` is an instance, so such a method is never reached through its class (``Own.method(anything)``,
``map(Own.method, ...)``, ``alias = method`` in the class body), and the class itself (or a classmethod's ``cls``) is
not handed on as a value (a function given the class could do the same). A class may be built only from the
program's own classes, ``object`` and plain classes of the allowed modules, never from a metaclass or from something
that turns into one (``typing.Type``): a metaclass builds classes from a mapping with any dunder key.
"""

from __future__ import annotations

import ast

from promptpo.gate.modules import resolve_value
from promptpo.gate.rules import PROPERTY_PARTS, TYPE_TEST_CALLS, literal_lookup
from promptpo.gate.violation import Violation


def method_through_class(walk, base: ast.expr, name: str, line: int):
    """``Own.method`` (or ``cls.method``, or a literal getattr of either)."""
    cls = walk.program.class_of(base) if isinstance(base, ast.Name) else None
    if cls is not None and name in walk.program.methods_of(cls):
        yield Violation(line, "method_through_class", f"reaches the method {cls.name}.{name} through the class (call "
                        "methods on an instance: through the class any object could be passed as self)")


def class_value(walk, node: ast.Name, line: int):
    """An own class (or a classmethod's ``cls``) used other than to make an instance, read an attribute, derive a
    class, test an instance or compare by identity."""
    cls = walk.program.class_of(node)
    if cls is None:
        return
    parent = walk.parents.get(node)
    if isinstance(parent, ast.Call) and parent.func is node:
        return
    if isinstance(parent, ast.Attribute) and parent.value is node:
        return
    if isinstance(parent, ast.ClassDef) and node in parent.bases:
        return
    if isinstance(parent, ast.Assign) and isinstance(parent.targets[0], ast.Name) and \
            walk.program.aliases.get(parent.targets[0].id) is cls:
        return  # Policy = Controller: the alias is the class too
    if isinstance(parent, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in parent.ops):
        return
    holder = walk.parents.get(parent) if isinstance(parent, ast.Tuple) else parent
    if isinstance(holder, ast.Call) and isinstance(holder.func, ast.Name) and (
            holder.func.id in TYPE_TEST_CALLS and (holder.args[1:2] == [node] or holder.args[1:2] == [parent])
            or holder.func.id == "super" and holder.args[:1] == [node]):
        return
    found = literal_lookup(parent)
    if found is not None and found[0] is node or walk._names_a_type(node):
        return
    yield Violation(line, "class_value", f"uses the class {cls.name} as a value (make instances, read its constants, "
                    "test with isinstance; handed on, its methods could be called with any object as self)")


def method_value(walk, node: ast.Name, line: int):
    """In a class body, a method's name used as a value (``alias = method``) but as its own property's decorator."""
    scope = walk.program.resolving(node)
    if scope is None or not isinstance(scope.node, ast.ClassDef) or scope.node not in walk.program.own_classes:
        return
    if not any(isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == node.id
               for item in scope.node.body):
        return
    parent = walk.parents.get(node)
    if isinstance(parent, ast.Attribute) and parent.attr in PROPERTY_PARTS and parent in (
            d for item in scope.node.body if isinstance(item, ast.FunctionDef) for d in item.decorator_list):
        return
    yield Violation(line, "method_through_class", f"uses the method {node.id} as a value in its class's body")


def bases(walk, node: ast.ClassDef, line: int):
    """Each base: an own class, ``object``, or a plain class of an allowed module named as ``module.name``."""
    for base in node.bases:
        if isinstance(base, ast.Name) and (base.id == "object" and walk.program.resolving(base) is None
                                           or walk.program.class_of(base) is not None):
            continue
        owner = walk.module_of(base.value) if isinstance(base, ast.Attribute) else None
        if owner is not None and _plain_base(resolve_value(owner, base.attr)):
            continue
        if isinstance(base, ast.Name) and (target := walk.program.modules_from.get(base.id)) is not None and \
                walk.program.bindings[base.id] == 1 and _plain_base(resolve_value(*target)):
            continue
        yield Violation(line, "class_base", f"class {node.name} derives from something other than its own classes, "
                        "object or a plain class of an allowed module (a metaclass builds classes from any mapping)")


def _plain_base(value) -> bool:
    """A class (or what turns into classes, like typing.NamedTuple) that is no metaclass and makes none."""
    if isinstance(value, type):
        return not issubclass(value, type)
    entries = getattr(value, "__mro_entries__", None)
    if entries is None:
        return False
    try:
        made = entries((value,))
    except Exception:  # noqa: BLE001 - it cannot be a base then
        return False
    return all(isinstance(v, type) and not issubclass(v, type) for v in made)
