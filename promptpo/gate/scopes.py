"""Who a name is: the program's scopes, the names bound to modules, and the parameters that are really ``self``.

``self``/``cls`` may read private attributes (``self._history``) only as the first parameter of a method of a
class the program defines (its bases are its own classes or ``object``, and it has no decorator), where the method
keeps its first parameter bound to the instance or class (no decorator but the builtin ``classmethod`` and
``property``, or that property's ``.setter``) and never rebinds it. A name elsewhere that happens to read ``self``
is just a name. That first parameter can only be an instance (or the class) because a method of such a class is
never reached through the class itself (promptpo.gate.classes): ``Own.method(anything)`` would hand it anything.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field

from promptpo.gate.modules import resolve
from promptpo.gate.rules import METHOD_DECORATORS, PROPERTY_PARTS

FUNCTION_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
SCOPES = (ast.Module, ast.ClassDef, *FUNCTION_SCOPES, *COMPREHENSIONS)


@dataclass
class Scope:
    node: ast.AST
    parent: Scope | None
    bound: Counter = field(default_factory=Counter)
    """How many times each name is bound directly in this scope (parameters, targets, defs, imports, ...)."""
    declared: set[str] = field(default_factory=set)
    """Names declared ``global`` or ``nonlocal`` here."""


class Program:
    """The analysis the walk needs: parents, scopes and bindings, module names, own classes and methods."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        self.scope_of: dict[ast.AST, Scope] = {}
        """Each scope node -> its Scope."""
        self.bindings: Counter = Counter()
        """How many times each name is bound anywhere in the program."""
        self._build(tree, None)
        self.ambiguous_modules: set[str] = set()
        """Names imports bind to more than one module."""
        self.modules = self._module_names()
        """Names an import binds to an allowed module -> the module's dotted name."""
        self.modules_from = {alias.asname or alias.name: (node.module, alias.name) for node in ast.walk(tree)
                             if isinstance(node, ast.ImportFrom) and node.module and not node.level
                             for alias in node.names if alias.name != "*"}
        """Names ``from module import name`` binds -> (module, name)."""
        self.own_classes = self._own_classes()
        self.own_by_name = {c.name: c for c in self.own_classes}
        self.aliases = {node.targets[0].id: self.own_by_name[node.value.id] for node in tree.body
                        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                        and isinstance(node.value, ast.Name) and node.value.id in self.own_by_name
                        and self.bindings[node.targets[0].id] == 1}
        """Module-level ``Policy = Controller``: a second name of an own class (the entry point's alias)."""
        self.methods = self._methods()

    # -- scopes and bindings -------------------------------------------------------------------
    def _build(self, node: ast.AST, scope: Scope | None) -> None:
        if isinstance(node, SCOPES):
            scope = Scope(node, scope)
            self.scope_of[node] = scope
            if isinstance(node, FUNCTION_SCOPES):
                for arg in _parameters(node.args):
                    self._bind(scope, arg.arg)
        for child in ast.iter_child_nodes(node):
            self.parents[child] = node
            target = scope
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child in (
                    *node.decorator_list, *getattr(node, "bases", ()), *getattr(node, "keywords", ())):
                target = scope.parent  # decorators and bases are evaluated outside the def
            if isinstance(node, FUNCTION_SCOPES) and child is node.args:
                target = scope.parent  # defaults too (the parameters were bound above)
            self._binding(child, target)
            self._build(child, target)

    def _binding(self, node: ast.AST, scope: Scope) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            if isinstance(self.parents.get(node), ast.NamedExpr):
                while isinstance(scope.node, COMPREHENSIONS):  # := in a comprehension binds outside it
                    scope = scope.parent
            self._bind(scope, node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._bind(scope, node.name)
        elif isinstance(node, ast.alias):
            self._bind(scope, node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self._bind(scope, node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            scope.declared.update(node.names)
            for name in node.names:
                self.bindings[name] += 1
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            self._bind(scope, node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            self._bind(scope, node.rest)

    def _bind(self, scope: Scope, name: str) -> None:
        scope.bound[name] += 1
        self.bindings[name] += 1

    def resolving(self, name: ast.Name) -> Scope | None:
        """The scope whose binding ``name`` refers to (class bodies are skipped from inside functions), or None
        for a builtin or a name nobody binds."""
        scope = self._scope_at(name)
        inside_function = False
        while scope is not None:
            if isinstance(scope.node, ast.ClassDef) and inside_function:
                scope = scope.parent
                continue
            if name.id in scope.bound or name.id in scope.declared:
                return scope
            inside_function = inside_function or isinstance(scope.node, (*FUNCTION_SCOPES, *COMPREHENSIONS))
            scope = scope.parent
        return None

    def _scope_at(self, node: ast.AST) -> Scope:
        child, parent = node, self.parents.get(node)
        while parent is not None:
            if parent in self.scope_of:
                scope = self.scope_of[parent]
                outer = isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) and (
                    child in (*getattr(parent, "decorator_list", ()), *getattr(parent, "bases", ()),
                              *getattr(parent, "keywords", ())) or child is getattr(parent, "args", None))
                return scope.parent if outer else scope
            child, parent = parent, self.parents.get(parent)
        return self.scope_of[self.tree]

    def _module_names(self) -> dict[str, str]:
        found: dict[str, str] = {}

        def bind(name: str, module: str) -> None:
            if found.setdefault(name, module) != module:
                self.ambiguous_modules.add(name)

        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        bind(alias.asname, alias.name)
                    else:
                        bind(alias.name.split(".")[0], alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    target = resolve(node.module, alias.name).module
                    if target is not None:
                        bind(alias.asname or alias.name, target)
        return found

    # -- own classes and their methods ---------------------------------------------------------
    def _own_classes(self) -> set[ast.ClassDef]:
        """Module-level classes bound once, undecorated, derived only from each other and ``object``, and from which
        no other class of the program derives (a class that is not own would reach their methods unchecked)."""
        classes = [n for n in ast.walk(self.tree) if isinstance(n, ast.ClassDef)]
        by_name = {c.name: c for c in classes if self.bindings[c.name] == 1}
        own: set[ast.ClassDef] = set()
        changed = True
        while changed:
            changed = False
            for cls in classes:
                if cls in own or cls.keywords or self.bindings[cls.name] != 1 or cls not in self.tree.body:
                    continue
                if cls.decorator_list:
                    continue
                bases = [b.id if isinstance(b, ast.Name) else None for b in cls.bases]
                if all(b == "object" or (b in by_name and by_name[b] in own) for b in bases):
                    own.add(cls)
                    changed = True
        changed = True
        while changed:  # a class some other class derives from stays own only if that class is own too
            changed = False
            for cls in classes:
                if cls in own:
                    continue
                for base in cls.bases:
                    named = base.id if isinstance(base, ast.Name) else None
                    if named in self.own_by_name_of(own):
                        own.discard(self.own_by_name_of(own)[named])
                        changed = True
        return own

    @staticmethod
    def own_by_name_of(own: set[ast.ClassDef]) -> dict[str, ast.ClassDef]:
        return {c.name: c for c in own}

    def _methods(self) -> dict[ast.AST, str]:
        """Methods whose first parameter stays the instance or class -> that parameter's name."""
        found = {}
        for cls in self.own_classes:
            properties = set()
            for item in cls.body:
                if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if not all(self._keeps_binding(d, properties) for d in item.decorator_list):
                    continue
                if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                    properties.add(item.name)
                params = [*item.args.posonlyargs, *item.args.args]
                if not params:
                    continue
                name = params[0].arg
                scope = self.scope_of[item]
                if scope.bound[name] == 1 and name not in scope.declared:
                    found[item] = name
        return found

    def _keeps_binding(self, decorator: ast.expr, properties: set[str]) -> bool:
        """The builtin classmethod or property (not a name the program binds), or ``p.setter`` of a property
        ``p`` defined above in the same class."""
        if isinstance(decorator, ast.Name):
            return decorator.id in METHOD_DECORATORS and self.bindings[decorator.id] == 0
        return (isinstance(decorator, ast.Attribute) and decorator.attr in PROPERTY_PARTS
                and isinstance(decorator.value, ast.Name) and decorator.value.id in properties)

    def methods_of(self, cls: ast.ClassDef) -> set[str]:
        """Names of the functions defined in an own class's body or its own bases' bodies."""
        names = {item.name for item in cls.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in self.own_by_name:
                names |= self.methods_of(self.own_by_name[base.id])
        return names

    def class_of(self, name: ast.Name) -> ast.ClassDef | None:
        """The own class a name refers to: the class's own name, or a classmethod's ``cls``."""
        if name.id in self.own_by_name or name.id in self.aliases:
            cls = self.own_by_name.get(name.id) or self.aliases[name.id]
            scope = self.resolving(name)
            if scope is not None and (scope.node is self._scope_at(cls).node or scope.node is self.tree):
                return cls
        if self.is_own(name):
            method = self.resolving(name).node
            if any(isinstance(d, ast.Name) and d.id == "classmethod" for d in method.decorator_list):
                return self.parents[method]
        return None

    def is_own(self, name: ast.Name) -> bool:
        """Whether this occurrence of a name is a method's own ``self``/``cls`` (see the module docstring)."""
        scope = self.resolving(name)
        return scope is not None and self.methods.get(scope.node) == name.id and not self._rebound_below(scope, name)

    def _rebound_below(self, scope: Scope, name: ast.Name) -> bool:
        """Whether a scope between the reference and the method binds the name (then it is not the method's)."""
        inner = self._scope_at(name)
        while inner is not None and inner is not scope:
            if name.id in inner.bound or name.id in inner.declared:
                return True
            inner = inner.parent
        return False


def _parameters(args: ast.arguments) -> list[ast.arg]:
    found = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return found + [a for a in (args.vararg, args.kwarg) if a is not None]
