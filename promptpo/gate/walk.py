"""The checks, node by node: every reason a program reaches outside what a policy may use."""

from __future__ import annotations

import ast
import string

from promptpo.gate import classes
from promptpo.gate.modules import resolve
from promptpo.gate.rules import (
    ALLOWED_DUNDER_METHODS, ALLOWED_DUNDER_NAMES, ALLOWED_MODULES, DUNDER, FORBIDDEN_ATTRIBUTES, FORBIDDEN_NAMES,
    LITERAL_LOOKUPS, PUBLIC_UNDERSCORE, literal_lookup, REFUSED_KEYWORDS, TRUSTED_BUILTINS, TYPE_TEST_CALLS, TYPE_TESTS,
)
from promptpo.gate.scopes import Program
from promptpo.gate.violation import Violation


HARMLESS_DUNDER_STRINGS = ALLOWED_DUNDER_METHODS | {"__main__", "__name__"}
"""Dunder names a string may hold (a docstring saying "after __init__"): names any program may use anyway."""


class Walk:
    def __init__(self, tree: ast.Module):
        self.program = Program(tree)
        self.parents = self.program.parents

    def violations(self):
        for node in ast.walk(self.program.tree):
            line = getattr(node, "lineno", None) or getattr(self._statement(node), "lineno", 1)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield from self._imports(node, line)
                if isinstance(self.parents.get(node), ast.ClassDef):
                    yield Violation(line, "import", "an import inside a class body (the module would be a class "
                                    "attribute, a value no check follows); import at the top")
            elif isinstance(node, ast.Name):
                yield from self._name(node, line)
            elif isinstance(node, ast.Attribute):
                yield from self._identifier(node.attr, line)
                yield from self._access(node.value, node.attr, line, node)
                if not isinstance(node.ctx, ast.Load) and not (isinstance(node.value, ast.Name)
                                                               and self.program.is_own(node.value)):
                    yield Violation(line, "attribute_store", f"sets .{node.attr} on something other than a method's "
                                    "own self (an object's attribute setters can change what it is; keep state on self)")
            elif isinstance(node, ast.Call) and (found := literal_lookup(node)) is not None:
                yield from self._access(found[0], found[1], line, node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from self._definition(node, line)
            elif isinstance(node, ast.arg):
                yield from self._identifier(node.arg, line)
                yield from self._rebinds(node.arg, line)
            elif isinstance(node, ast.keyword) and node.arg is not None:
                yield from self._identifier(node.arg, line)
                if node.arg in REFUSED_KEYWORDS:
                    yield Violation(line, "unsafe_keyword", f"passes {node.arg}=: {REFUSED_KEYWORDS[node.arg]}")
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:
                    yield from self._plain_name(name, line)
            elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
                named = [m for m in DUNDER.findall(text) if m not in HARMLESS_DUNDER_STRINGS]
                if named:
                    yield Violation(line, "dunder", f"a string literal names {named[0]!r}")
            elif isinstance(node, ast.MatchClass):
                yield Violation(line, "match_class", "a class pattern in match (it reads attributes named by strings); "
                                "test with isinstance and read the attributes")

    def _statement(self, node: ast.AST) -> ast.AST:
        while node is not None and not hasattr(node, "lineno"):
            node = self.parents.get(node)
        return node

    literal_lookup = staticmethod(literal_lookup)

    # -- imports and modules -------------------------------------------------------------------
    def _imports(self, node: ast.Import | ast.ImportFrom, line: int):
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            if name in self.program.ambiguous_modules:
                yield Violation(line, "module_rebound", f"binds {name} to more than one module")
            yield from self._trusted_name(name, line)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_MODULES:
                    yield Violation(line, "import", f"imports {alias.name}, which is not an allowed module")
                if alias.asname:
                    yield from self._identifier(alias.asname, line)
            return
        module = node.module or ""
        if node.level:
            yield Violation(line, "import", "a relative import")
            return
        if module not in ALLOWED_MODULES:
            yield Violation(line, "import", f"imports from {module}, which is not an allowed module")
            return
        for alias in node.names:
            if alias.name == "*":
                yield Violation(line, "import", f"from {module} import * (name what you use)")
                continue
            if f"{module}.{alias.name}" not in ALLOWED_MODULES:
                if alias.name.startswith("_") or alias.name in FORBIDDEN_ATTRIBUTES or alias.name in FORBIDDEN_NAMES:
                    yield Violation(line, "import", f"imports {alias.name} from {module}")
                elif (refused := resolve(module, alias.name).refused) is not None:
                    yield Violation(line, "import", f"imports {alias.name} from {module}: {refused}")
                elif (type_only := resolve(module, alias.name).type_only) is not None:
                    yield Violation(line, "import", f"imports {alias.name} from {module}: {type_only}; use "
                                    f"{module}.{alias.name} where a type is named")
            if alias.asname:
                yield from self._identifier(alias.asname, line)

    def module_of(self, node: ast.AST) -> str | None:
        """The allowed module an expression is, when it is one: a module name, ``module.sub``, or a literal
        ``getattr(module, "sub")``."""
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            return self.program.modules.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = self.module_of(node.value)
            return None if owner is None else resolve(owner, node.attr).module
        found = literal_lookup(node)
        if found is not None and found[0] is not node:
            owner = self.module_of(found[0])
            return None if owner is None else resolve(owner, found[1]).module
        return None

    def _module_use(self, node: ast.AST, line: int):
        """A module may only be the base of ``module.name`` (or of a literal lookup)."""
        module = self.module_of(node)
        if module is None:
            return
        parent = self.parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return
        found = literal_lookup(parent) if parent is not None else None
        if found is not None and found[0] is node:
            return
        yield Violation(line, "module_value", f"uses the module {module} as a value (only {module}.name is "
                        "allowed: a module handed on could be looked into where no check sees it)")

    # -- names ---------------------------------------------------------------------------------
    def _name(self, node: ast.Name, line: int):
        yield from self._identifier(node.id, line)
        if not isinstance(node.ctx, ast.Load):
            yield from self._rebinds(node.id, line)
        if node.id in ALLOWED_DUNDER_NAMES and not isinstance(node.ctx, ast.Load):
            yield Violation(line, "dunder", f"binds the name {node.id}")
        if isinstance(node.ctx, ast.Load):
            yield from self._module_use(node, line)
            yield from classes.class_value(self, node, line)
            yield from classes.method_value(self, node, line)
            if node.id in LITERAL_LOOKUPS:
                parent = self.parents.get(node)
                if literal_lookup(parent) is not None and parent.func is node:
                    return
                yield Violation(line, "forbidden_builtin", f"uses {node.id} other than as {node.id}(x, \"name\") "
                                "with a literal, public name")
                return
            if node.id == "type" and self.program.resolving(node) is None:
                yield from self._type_use(node, line)
        yield from self._plain_name(node.id, line)

    def _rebinds(self, name: str, line: int):
        if name in self.program.modules:
            yield Violation(line, "module_rebound", f"binds {name}, which names the module {self.program.modules[name]}")
        yield from self._trusted_name(name, line)

    @staticmethod
    def _trusted_name(name: str, line: int):
        if name in TRUSTED_BUILTINS:
            yield Violation(line, "builtin_rebound", f"binds {name}, a builtin the checks recognise by its name")

    def _plain_name(self, name: str, line: int):
        if name in FORBIDDEN_NAMES and name not in LITERAL_LOOKUPS:
            yield Violation(line, "forbidden_builtin", f"uses {name}")
        elif DUNDER.fullmatch(name) and name not in ALLOWED_DUNDER_NAMES:
            yield Violation(line, "dunder", f"uses the name {name}")

    def _type_use(self, node: ast.Name, line: int):
        call = self.parents.get(node)
        if not (isinstance(call, ast.Call) and call.func is node and len(call.args) == 1 and not call.keywords
                and not isinstance(call.args[0], ast.Starred)):
            yield Violation(line, "type_call", "uses type other than type(x) (with three arguments, or passed on, "
                            "type builds classes)")
            return
        use = self.parents.get(call)
        if isinstance(use, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in use.ops):
            return
        if isinstance(use, ast.FormattedValue):
            return
        if isinstance(use, ast.Call) and call in use.args and isinstance(use.func, ast.Name) and use.func.id in TYPE_TESTS:
            return
        yield Violation(line, "type_call", "uses type(x) other than in an `is` test, isinstance or print (the class "
                        "it returns can build other classes; == or `in` would hand it to the other side)")

    @staticmethod
    def _identifier(name: str, line: int):
        if not name.isascii():
            yield Violation(line, "non_ascii_identifier", f"the identifier {ascii(name)} is not plain ASCII")

    # -- attributes ----------------------------------------------------------------------------
    def _access(self, base: ast.expr, name: str, line: int, node: ast.AST):
        """``base.name`` (an attribute, or a literal getattr/hasattr)."""
        if isinstance(node, ast.Call):
            yield from self._identifier(name, line)
        if DUNDER.fullmatch(name):
            if not (name == "__init__" and isinstance(base, ast.Call) and isinstance(base.func, ast.Name)
                    and base.func.id == "super"):
                yield Violation(line, "dunder", f"accesses the attribute {name}")
            return
        if name in FORBIDDEN_ATTRIBUTES:
            yield Violation(line, "forbidden_attribute", f"accesses .{name}, which leads outside the policy")
            return
        owner = self.module_of(base)
        yield from classes.method_through_class(self, base, name, line)
        if name.startswith("_") and (name not in PUBLIC_UNDERSCORE or owner is not None):
            if owner is not None or not (isinstance(base, ast.Name) and self.program.is_own(base)):
                yield Violation(line, "private_attribute", f"accesses the private attribute {name} of something "
                                "it did not create")
            return
        if owner is not None:
            found = resolve(owner, name)
            if found.refused is not None:
                yield Violation(line, "module_route", found.refused)
                return
            if found.type_only is not None and not self._names_a_type(node):
                yield Violation(line, "type_only", found.type_only)
            yield from self._module_use(node, line)
        if name in ("format", "format_map"):
            parent = self.parents.get(node)
            called = isinstance(parent, ast.Call) and parent.func is node
            if not (called and isinstance(base, ast.Constant) and isinstance(base.value, str) and _plain_format(base.value)):
                yield Violation(line, "format_string", f".{name} other than called on a literal with plain fields "
                                "(format fields can read attributes)")

    def _names_a_type(self, node: ast.AST) -> bool:
        """Whether an expression is used only to name a type: isinstance/issubclass's second argument (or in a tuple
        there), or an annotation."""
        parent = self.parents.get(node)
        holder = self.parents.get(parent) if isinstance(parent, ast.Tuple) else parent
        if isinstance(holder, ast.Call) and isinstance(holder.func, ast.Name) and holder.func.id in TYPE_TEST_CALLS \
                and holder.args[1:2] in ([node], [parent]):
            return True
        while parent is not None and not isinstance(parent, ast.stmt):
            if isinstance(parent, ast.arg) and parent.annotation is not None:
                return True
            node, parent = parent, self.parents.get(parent)
        return isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and node is parent.returns or (
            isinstance(parent, ast.AnnAssign) and node is parent.annotation)

    # -- definitions ---------------------------------------------------------------------------
    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, line: int):
        yield from self._identifier(node.name, line)
        yield from self._rebinds(node.name, line)
        if isinstance(node, ast.ClassDef):
            if any(k.arg == "metaclass" for k in node.keywords):
                yield Violation(line, "metaclass", f"class {node.name} sets a metaclass")
            elif node.keywords:
                yield Violation(line, "class_keyword", f"class {node.name} passes keywords to its class creation")
            yield from classes.bases(self, node, line)
        elif DUNDER.fullmatch(node.name) and node.name not in ALLOWED_DUNDER_METHODS:
            yield Violation(line, "dunder_method", f"defines {node.name}, a special method policies may not define "
                            "(allowed: __init__, __call__, comparisons, arithmetic, containers, __repr__ ...)")


def _plain_format(text: str) -> bool:
    """True when no replacement field reads an attribute or an item: '{0.x}', '{a[k]}'."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return False
    for _, field_name, spec, _ in fields:
        if field_name and ("." in field_name or "[" in field_name):
            return False
        if spec and not _plain_format(spec):
            return False
    return True
