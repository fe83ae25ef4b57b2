"""The import guard: the builtins a candidate's code sees, in the sandbox worker and in ``load_policy(...,
trusted=True)``.

The gate (promptpo.gate) refuses code statically; this is the same allow-list enforced again at run time,
defence in depth that also makes code behave the same wherever it is loaded: only the allowed modules import,
each as a facade (no private attributes, none of the forbidden ones, no submodule or module value outside the
allow-list, no metaclass, no denied value such as ``typing.get_type_hints``); the forbidden builtins are absent; ``getattr`` and
``hasattr`` look up only public names that are not forbidden; ``type`` takes one argument.

It needs only the standard library: the worker imports it beside wire.py.
"""

from __future__ import annotations

import builtins
import sys
import types

_type = type
_getattr = getattr


def guarded_builtins(guard: dict) -> dict:
    allowed, banned = frozenset(guard["modules"]), frozenset(guard["attributes"])
    denied = [dotted.rpartition(".")[::2] for dotted in guard.get("denied", ())]
    facades: dict = {}

    def is_denied(value) -> bool:
        """Whether ``value`` is a denied value of a module loaded so far (one not loaded cannot have handed it)."""
        return any((owner := sys.modules.get(name)) is not None and _getattr(owner, attr, None) is value
                   for name, attr in denied)

    def checked(name) -> str:
        if _type(name) is not str or name.startswith("_") or name in banned:
            raise AttributeError(f"the attribute {name!r} is not available to policies")
        return name

    def facade(module):
        if module.__name__ in facades:
            return facades[module.__name__]

        class Facade(types.ModuleType):
            def __getattr__(self, name):
                try:
                    value = _getattr(module, checked(name))
                except AttributeError:  # a fresh error: the real one's .obj would be the real module
                    raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}") from None
                if isinstance(value, types.ModuleType):
                    if value.__name__ not in allowed:
                        raise AttributeError(f"module {value.__name__!r} is not available to policies")
                    value = facade(value)
                elif (isinstance(value, _type) and issubclass(value, _type)) or is_denied(value):
                    raise AttributeError(f"{module.__name__}.{name} is not available to policies")
                self.__dict__[name] = value  # checked once: later lookups skip __getattr__
                return value

        facades[module.__name__] = Facade(module.__name__, module.__doc__)
        return facades[module.__name__]

    roots = frozenset(m.split(".")[0] for m in allowed)

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
        if _type(fromlist) is list and not level and name.split(".")[0] in roots:
            # PyImport_Import (fromlist a list; Python's import statement passes None or a tuple): C code
            # of an allowed module (numpy) importing its own parts lazily. It looks __import__ up in the
            # calling frame's builtins, i.e. ours, and needs the real module.
            return __import__(name, globals, locals, fromlist, level)
        if level or name not in allowed:
            raise ImportError(f"import of {name!r} is not allowed (allowed: {', '.join(sorted(allowed))})")
        top = __import__(name, None, None, fromlist, 0)
        if fromlist:
            return facade(sys.modules[name])
        return facade(top)

    def guarded_getattr(obj, name, *default):
        try:
            if isinstance(obj, types.ModuleType):
                return _getattr(obj, name, *default)  # a facade checks for itself
            return _getattr(obj, checked(name), *default)
        except AttributeError as err:
            raise AttributeError(str(err)) from None  # without .obj, the object it was asked of

    def guarded_hasattr(obj, name) -> bool:
        try:
            guarded_getattr(obj, name)
        except AttributeError:
            return False
        return True

    def guarded_type(obj):
        return _type(obj)

    names = frozenset(guard["names"])
    safe = {k: v for k, v in vars(builtins).items() if k not in names and k not in ("__loader__", "__spec__")}
    safe.update(__import__=guarded_import, getattr=guarded_getattr, hasattr=guarded_hasattr, type=guarded_type)
    return safe
