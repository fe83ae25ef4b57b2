"""The gate: code that reaches outside what a policy needs is refused before it runs anywhere.

The sandbox is the real boundary while a run evaluates code; the gate is what makes the code a
run hands over (best.py, ``export``, ``load_policy(..., trusted=True)``) safe to load. It is an
allow-list in spirit: a policy needs numpy, math, a few standard modules' public API, its own
attributes and plain Python. Everything that reaches past that is refused with the line and
the rule, like a traceback:

- imports outside :data:`ALLOWED_MODULES` (and star or relative imports);
- dunder names, attributes and string literals (``__builtins__``, ``__class__``, ``"__im" "port__"``
  built at run time is harmless without a way to look it up, and those ways are refused next);
- the builtins that look names up or leave the program (:data:`FORBIDDEN_NAMES`);
- private attributes (``x._y``) of anything but ``self``/``cls``;
- attribute names that lead to modules, files, frames or the class graph (:data:`FORBIDDEN_ATTRIBUTES`);
- ``str.format`` fields that read attributes or items (``"{0.__class__}"``);
- non-ASCII identifiers (homoglyphs) and invisible or bidirectional control characters anywhere
  in the source (they make ``show`` and ``report`` display code other than what runs).
"""

from __future__ import annotations

import ast
import re
import string
import unicodedata
from dataclasses import dataclass

from promptpo.text import HIDDEN

ALLOWED_MODULES = frozenset({
    "numpy", "numpy.linalg", "numpy.random", "numpy.fft", "numpy.polynomial", "math", "cmath", "random",
    "collections", "collections.abc", "itertools", "functools", "heapq", "bisect", "statistics", "dataclasses",
    "typing", "enum"})
"""Modules a candidate may import (``operator`` is not one: attrgetter looks names up)."""

FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "hasattr", "vars",
    "globals", "locals", "dir", "breakpoint", "input", "help", "exit", "quit", "memoryview", "copyright",
    "credits", "license"})
"""Builtins that look names up by string, reach the interpreter or leave the program."""

FORBIDDEN_ATTRIBUTES = frozenset({
    # modules reachable as attributes
    "os", "sys", "subprocess", "builtins", "bltns", "ctypes", "ctypeslib", "importlib", "f2py", "distutils", "testing",
    "lib", "io", "pickle", "marshal", "shutil", "socket", "pathlib", "posix", "signal", "threading",
    "multiprocessing", "inspect", "types", "gc", "code", "codecs", "operator", "weakref", "resource",
    # files and pickles
    "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile",
    "tofile", "memmap", "fromregex", "DataSource", "dump", "dumps", "open",
    # frames, code objects and the class graph
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "mro",
    "func_globals", "im_func", "system", "popen", "spawn", "fork", "exec_module", "attrgetter", "methodcaller"})
"""Attribute names that lead out of the policy, refused on anything but ``self``/``cls``."""

OWN = frozenset({"self", "cls"})
ALLOWED_DUNDER_NAMES = frozenset({"__name__"})
DUNDER = re.compile(r"__\w+__")


@dataclass(frozen=True)
class Violation:
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.detail} ({self.rule})"


def check(code: str, tree: ast.Module | None = None) -> list[Violation]:
    """Every reason to refuse ``code``, in line order; empty when it may run."""
    found = _characters(code)
    if tree is None:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return found + [Violation(1, "syntax", "the code does not parse")]
    try:
        found += list(_walk(tree))
    except RecursionError:
        found.append(Violation(1, "too_deep", "the code is nested too deeply to check"))
    return sorted(set(found), key=lambda v: (v.line, v.rule, v.detail))


def verdict(violations: list[Violation]) -> str:
    """One line for a header or a table: 'passed' or the first reason and how many more."""
    if not violations:
        return "passed"
    more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
    return f"refused: {violations[0]}{more}"


def forbidden_text() -> str:
    """The forbidden builtins as the prompts list them."""
    return ", ".join(f"`{name}`" for name in sorted(FORBIDDEN_NAMES))


def repair_message(violations: list[Violation]) -> str:
    lines = [str(v) for v in violations[:8]]
    if len(violations) > 8:
        lines.append(f"... and {len(violations) - 8} more")
    return ("refused before running: the code reaches outside what a policy may use.\n" + "\n".join(lines) +
            f"\nUse only {', '.join(sorted(m for m in ALLOWED_MODULES if '.' not in m))}, their public API, "
            f"your own attributes and plain Python, without the builtins {forbidden_text()}.")


def guard() -> dict:
    """What the sandbox worker's import guard enforces (sandbox/worker.py), sent with the code."""
    return {"modules": sorted(ALLOWED_MODULES), "names": sorted(FORBIDDEN_NAMES),
            "attributes": sorted(FORBIDDEN_ATTRIBUTES)}


def _characters(code: str) -> list[Violation]:
    found = []
    for number, line in enumerate(code.split("\n"), 1):
        for ch in line:
            if ch in "\t\r" or unicodedata.category(ch) not in HIDDEN:
                continue
            name = unicodedata.name(ch, f"U+{ord(ch):04X}")
            found.append(Violation(number, "invisible_character",
                                   f"the invisible or reordering character U+{ord(ch):04X} {name}"))
            break
    return found


def _walk(tree: ast.Module):
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
        line = getattr(node, "lineno", 1)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from _imports(node, line)
        elif isinstance(node, ast.Name):
            yield from _name(node.id, line)
        elif isinstance(node, ast.Attribute):
            yield from _attribute(node, parents, line)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from _identifier(node.name, line)
            if isinstance(node, ast.ClassDef) and any(k.arg == "metaclass" for k in node.keywords):
                yield Violation(line, "metaclass", f"class {node.name} sets a metaclass")
        elif isinstance(node, ast.arg):
            yield from _identifier(node.arg, line)
        elif isinstance(node, ast.keyword) and node.arg is not None:
            yield from _identifier(node.arg, line)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                yield from _name(name, line)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            match = DUNDER.search(text)
            if match and text != "__main__":
                yield Violation(line, "dunder", f"a string literal names {match.group()!r}")


def _imports(node: ast.Import | ast.ImportFrom, line: int):
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                yield Violation(line, "import", f"imports {alias.name}, which is not an allowed module")
            if alias.asname:
                yield from _identifier(alias.asname, line)
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
        elif f"{module}.{alias.name}" in ALLOWED_MODULES:
            continue
        elif alias.name.startswith("_") or alias.name in FORBIDDEN_ATTRIBUTES or alias.name in FORBIDDEN_NAMES:
            yield Violation(line, "import", f"imports {alias.name} from {module}")
        if alias.asname:
            yield from _identifier(alias.asname, line)


def _name(name: str, line: int):
    yield from _identifier(name, line)
    if name in FORBIDDEN_NAMES:
        yield Violation(line, "forbidden_builtin", f"uses {name}")
    elif DUNDER.fullmatch(name) and name not in ALLOWED_DUNDER_NAMES:
        yield Violation(line, "dunder", f"uses the name {name}")


def _identifier(name: str, line: int):
    if not name.isascii():
        yield Violation(line, "non_ascii_identifier", f"the identifier {ascii(name)} is not plain ASCII")


def _attribute(node: ast.Attribute, parents: dict, line: int):
    name, base = node.attr, node.value
    yield from _identifier(name, line)
    own = isinstance(base, ast.Name) and base.id in OWN
    if DUNDER.fullmatch(name):
        if not (name == "__init__" and isinstance(base, ast.Call) and isinstance(base.func, ast.Name)
                and base.func.id == "super"):
            yield Violation(line, "dunder", f"accesses the attribute {name}")
    elif name.startswith("_") and not own:
        yield Violation(line, "private_attribute", f"accesses the private attribute {name} of something it did "
                        "not create")
    elif name in FORBIDDEN_ATTRIBUTES and not own:
        yield Violation(line, "forbidden_attribute", f"accesses .{name}, which leads outside the policy")
    elif name in ("format", "format_map") and isinstance(parents.get(node), ast.Call):
        if not (isinstance(base, ast.Constant) and isinstance(base.value, str) and _plain_format(base.value)):
            yield Violation(line, "format_string", f".{name} on anything but a literal with plain fields")


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
