"""promptpo.gate.rules: literal_lookup (getattr/hasattr with a literal name, checked as an attribute), and the lists'
promises to each other."""

from __future__ import annotations

import ast

import pytest

from promptpo.gate.rules import (ALLOWED_MODULES, FORBIDDEN_ATTRIBUTES, FORBIDDEN_NAMES, LEFT_OUT_MODULES,
                                 LITERAL_LOOKUPS, TRUSTED_BUILTINS, literal_lookup)


def call(source: str) -> ast.AST:
    return ast.parse(source, mode="eval").body


@pytest.mark.parametrize("source, base, name", [
    ("getattr(obj, 'speed')", "obj", "speed"),
    ("getattr(self.arm, 'joint', None)", "self.arm", "joint"),
    ("hasattr(obj, 'x')", "obj", "x"),
])
def test_a_literal_lookup_is_its_base_and_name(source, base, name):
    found = literal_lookup(call(source))
    assert found is not None
    assert (ast.unparse(found[0]), found[1]) == (base, name)


@pytest.mark.parametrize("source", [
    "getattr(obj, name)",  # a name made at run time
    "getattr(obj, 'a' + 'b')",
    "getattr(obj, 'not an identifier')",
    "getattr(obj, '')",
    "getattr(obj, b'speed')",
    "getattr(obj, 3)",
    "getattr(obj)",
    "getattr(obj, 'a', None, 1)",
    "hasattr(obj, 'x', False)",  # hasattr takes no default
    "getattr(obj, 'x', default=None)",
    "getattr(*args)",
    "getattr(obj, *names)",
    "setattr(obj, 'x', 1)",
    "x.getattr(obj, 'x')",
    "obj.speed",
])
def test_anything_else_is_no_literal_lookup(source):
    assert literal_lookup(call(source)) is None


def test_a_statement_is_no_literal_lookup():
    assert literal_lookup(ast.parse("getattr(obj, 'x')")) is None  # a Module, not the call


def test_the_lists_agree():
    assert LITERAL_LOOKUPS <= FORBIDDEN_NAMES  # only a literal name makes them allowed
    assert LITERAL_LOOKUPS <= TRUSTED_BUILTINS
    assert not set(LEFT_OUT_MODULES) & ALLOWED_MODULES
    assert "operator" in FORBIDDEN_ATTRIBUTES and "enum" not in ALLOWED_MODULES
