"""The gate: code that reaches outside what a policy needs is refused before it runs anywhere.

The sandbox is the real boundary while a run evaluates code; the gate is what makes the code a run hands over
(best.py, ``export``, ``load_policy(..., trusted=True)``) fit to load. It is an allow-list in spirit: a policy
needs numpy, math, a few standard modules' public API, its own attributes and plain Python. Everything that
reaches past that is refused with the line and the rule, like a traceback:

- imports outside :data:`ALLOWED_MODULES` (and star or relative imports); a module used other than as
  ``module.name`` (passed on, stored, rebound), and ``module.name`` that leads to a module outside the list or
  to a value that evaluates strings or looks names up (:data:`rules.DENIED_VALUES`);
- dunder names, attributes and string literals, and special methods outside :data:`rules.ALLOWED_DUNDER_METHODS`;
- the builtins that look names up or leave the program (:data:`FORBIDDEN_NAMES`), except ``getattr``/``hasattr``
  with a literal name, checked as the attribute it names; ``type`` other than ``type(x)`` compared or tested;
- private attributes (``x._y``) of anything but a method's own ``self``/``cls`` (promptpo.gate.scopes);
- attribute names that lead to modules, native code, string evaluation, files, frames or the class graph
  (:data:`FORBIDDEN_ATTRIBUTES`), on every base, ``self`` included;
- ``str.format`` fields that read attributes or items (``"{0.__class__}"``), class keywords and metaclasses;
- non-ASCII identifiers (homoglyphs), invisible or bidirectional control characters anywhere in the source, and
  carriage returns inside a line (they make ``show``, ``report`` and ``cat`` display code other than what runs).
"""

from __future__ import annotations

import ast
import threading

from promptpo.gate.rules import (
    ALLOWED_MODULES, DENIED_VALUES, FORBIDDEN_ATTRIBUTES, FORBIDDEN_NAMES, LEFT_OUT_MODULES, LITERAL_LOOKUPS,
)
from promptpo.gate.violation import Violation, characters
from promptpo.gate.walk import Walk

__all__ = ["ALLOWED_MODULES", "FORBIDDEN_ATTRIBUTES", "FORBIDDEN_NAMES", "Violation", "check", "forbidden_text",
           "guard", "left_out_text", "parse", "repair_message", "verdict"]

_PARSING = threading.Lock()


def parse(code: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` one thread at a time. CPython 3.11 keeps the AST conversion's recursion depth in
    interpreter-wide state, so two wave threads parsing at once can fail with ``SystemError: AST constructor
    recursion depth mismatch`` (python/cpython#106905); every parse of model text goes through here."""
    with _PARSING:
        return ast.parse(code, filename=filename)


def check(code: str, tree: ast.Module | None = None) -> list[Violation]:
    """Every reason to refuse ``code``, in line order; empty when it may run."""
    found = characters(code)
    if tree is None:
        try:
            tree = parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return found + [Violation(1, "syntax", "the code does not parse")]
    try:
        found += list(Walk(tree).violations())
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
    return ", ".join(f"`{name}`" for name in sorted(FORBIDDEN_NAMES - LITERAL_LOOKUPS))


def left_out_text() -> str:
    """The modules a model often reaches for that are not allowed, and what to use instead."""
    return "; ".join(f"`{name}` ({instead})" for name, instead in sorted(LEFT_OUT_MODULES.items()))


def repair_message(violations: list[Violation]) -> str:
    lines = [str(v) for v in violations[:8]]
    if len(violations) > 8:
        lines.append(f"... and {len(violations) - 8} more")
    return ("refused before running: the code reaches outside what a policy may use.\n" + "\n".join(lines) +
            f"\nUse only {', '.join(sorted(m for m in ALLOWED_MODULES if '.' not in m))}, their public API "
            f"(modules only as `module.name`), your own attributes and plain Python, without the builtins "
            f"{forbidden_text()} (`getattr`/`hasattr` only with a literal public name; `type(x)` only to compare).")


def guard() -> dict:
    """What the sandbox worker's import guard enforces (sandbox/guard.py), sent with the code."""
    return {"modules": sorted(ALLOWED_MODULES), "names": sorted(FORBIDDEN_NAMES),
            "attributes": sorted(FORBIDDEN_ATTRIBUTES), "denied": sorted(DENIED_VALUES)}
