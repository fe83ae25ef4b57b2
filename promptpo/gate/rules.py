"""What a policy may use: the allowed modules, and the names, attributes and values that lead outside them.

The lists are small on purpose. A module that cannot be made safe is left out (``enum``: its functional API
builds a class from a mapping, so a key put together at run time gives the class any dunder attribute, e.g. an
``__array_interface__`` that numpy turns into an array over any address of the process), and the prompt says so.
"""

from __future__ import annotations

import ast
import re

NUMPY_POLYNOMIALS = ("polynomial", "chebyshev", "legendre", "hermite", "hermite_e", "laguerre")

ALLOWED_MODULES = frozenset({
    "numpy", "numpy.linalg", "numpy.random", "numpy.fft", "numpy.polynomial",
    *(f"numpy.polynomial.{name}" for name in NUMPY_POLYNOMIALS),
    "math", "cmath", "random", "collections", "collections.abc", "itertools", "functools", "heapq", "bisect",
    "statistics", "typing"})
"""Modules a candidate may import (``operator`` is not one: attrgetter looks names up; ``enum`` and ``dataclasses``
are not: see above)."""

LEFT_OUT_MODULES = {"enum": "use ints or strings for phases", "operator": "write the lambda",
                    "dataclasses": "write a class with __init__"}
"""Modules a model often reaches for that are not allowed, with what to use instead (said in the prompt)."""

FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "hasattr", "vars",
    "globals", "locals", "breakpoint", "input", "help", "exit", "quit", "memoryview", "copyright",
    "credits", "license"})
"""Builtins that look names up by string, reach the interpreter or leave the program. ``getattr(x, "name")``,
``getattr(x, "name", default)`` and ``hasattr(x, "name")`` with a literal name are the one exception: they are
checked as ``x.name`` (see literal_lookup)."""

LITERAL_LOOKUPS = frozenset({"getattr", "hasattr"})

FORBIDDEN_ATTRIBUTES = frozenset({
    # modules reachable as attributes
    "os", "sys", "subprocess", "builtins", "bltns", "importlib", "f2py", "distutils", "testing",
    "lib", "io", "pickle", "marshal", "shutil", "socket", "pathlib", "posix", "signal", "threading",
    "multiprocessing", "inspect", "types", "gc", "code", "codecs", "operator", "weakref", "resource", "warnings",
    # native code: numpy's ctypes bridges (ndarray.ctypes, BitGenerator.ctypes/cffi) and what they lead to
    "ctypes", "_ctypes", "ctypeslib", "cffi", "CDLL", "PyDLL", "cdll", "pydll", "pythonapi", "dlopen",
    "from_address", "data_as",
    # string evaluation, lookups by string, and objects that hand back what they were made from
    "get_type_hints", "ForwardRef", "_evaluate", "_eval_type", "singledispatch", "singledispatchmethod",
    "update_wrapper", "wraps", "make_dataclass", "attrgetter", "methodcaller", "get_origin", "get_args",
    "cached_property", "attrname", "obj", "fget", "fset", "fdel", "set_state",
    # files and pickles
    "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile",
    "tofile", "memmap", "fromregex", "DataSource", "dump", "dumps", "open",
    # frames, code objects and the class graph
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "mro",
    "func_globals", "im_func", "system", "popen", "spawn", "fork", "exec_module"})
"""Attribute names that lead out of the policy: refused on every base, ``self`` included."""

DENIED_VALUES = {
    "typing.get_type_hints": "evaluates strings", "typing.ForwardRef": "evaluates strings",
    "typing.get_origin": "hands back the classes a type was made from (type itself, for Type[...])",
    "typing.get_args": "hands back what a type was made from", "typing.Type": "stands for type itself",
    "functools.cached_property": "writes an attribute under a name that can be changed later",
    "functools.singledispatch": "evaluates annotation strings", "functools.singledispatchmethod":
    "evaluates annotation strings", "functools.update_wrapper": "looks attributes up by string",
    "functools.wraps": "looks attributes up by string",
    "numpy.info": "imports modules by name", "numpy.bmat": "looks names up in its caller's frame",
    "numpy.show_config": "imports modules", "numpy.show_runtime": "imports modules",
    "numpy.random.set_state": "sets the generator's state unchecked (reads memory out of bounds)"}
"""Public values of allowed modules that are refused whatever name or module they are reached through."""

TYPE_ONLY_VALUES = {"numpy.ndarray": "its constructor makes an array over any buffer (object dtype, negative offsets)",
                    "numpy.recarray": "its constructor makes an array over any buffer"}
"""Values of allowed modules that may only name a type: in isinstance/issubclass and annotations, never called."""

ALLOWED_DUNDER_NAMES = frozenset({"__name__"})
"""Dunder names a program may read (``if __name__ == "__main__"``), never bind."""
ALLOWED_DUNDER_METHODS = frozenset({
    "__init__", "__post_init__", "__call__", "__repr__", "__str__", "__len__", "__iter__", "__next__",
    "__getitem__", "__setitem__", "__contains__", "__bool__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
    "__ge__", "__hash__", "__neg__", "__pos__", "__abs__", "__add__", "__radd__", "__sub__", "__rsub__",
    "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
    "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__divmod__", "__invert__", "__and__", "__or__", "__xor__",
    "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__", "__round__",
    "__enter__", "__exit__", "__float__", "__int__"})
"""Special methods a class of the program may define. Not ``__getattr__``/``__getattribute__`` (every name,
dunders included, would resolve to what they return), nor numpy's array protocols (``__array_interface__``
hands numpy a raw address), nor pickling and class-creation hooks."""

METHOD_DECORATORS = frozenset({"classmethod", "property"})
PROPERTY_PARTS = frozenset({"setter", "getter", "deleter"})
"""Decorators that keep a method's first parameter bound to the instance or the class (the builtins, and a
property's own ``.setter``)."""

TYPE_TESTS = frozenset({"isinstance", "issubclass", "print", "str", "repr"})
"""Calls ``type(x)`` may be handed to, besides ``is``/``is not``: ``type`` is for testing types, never for calling
the class it returns (``type(C)`` is a metaclass: called with a name, bases and a mapping it makes any class), and
never for comparing with ``==`` or ``in`` (the other side's own ``__eq__``/``__contains__`` would receive it)."""
TYPE_TEST_CALLS = frozenset({"isinstance", "issubclass"})

OWN = frozenset({"self", "cls"})
TRUSTED_BUILTINS = frozenset({"print", "str", "repr", "isinstance", "issubclass", "super", "getattr", "hasattr", "type",
                              "object", "classmethod", "staticmethod", "property"})
"""Builtins the gate's rules recognise by name: a program may not bind these names to something else."""
PUBLIC_UNDERSCORE = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})
"""namedtuple's public API, whose names start with an underscore so as not to clash with field names."""
REFUSED_KEYWORDS = {"refcheck": "resizing an array without checking its references leaves views on freed memory"}
"""Call keywords that switch a library's safety check off, refused in any call."""
DUNDER = re.compile(r"__\w+__")


def literal_lookup(node: ast.AST) -> tuple[ast.expr, str] | None:
    """``getattr(x, "name")``, ``getattr(x, "name", default)`` or ``hasattr(x, "name")``: (x, "name")."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in LITERAL_LOOKUPS):
        return None
    arity = (2, 3) if node.func.id == "getattr" else (2,)
    if node.keywords or len(node.args) not in arity or any(isinstance(a, ast.Starred) for a in node.args):
        return None
    name = node.args[1]
    if isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value.isidentifier():
        return node.args[0], name.value
    return None
