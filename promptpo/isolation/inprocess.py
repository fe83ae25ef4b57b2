"""What a policy loaded into the user's process (``load_policy(..., trusted=True)``) may still not do while it runs.

The gate refuses code before it loads and the import guard limits what it imports; both are checks of Python, and
numpy's own API has ways to corrupt memory a check of Python source cannot see coming. So every call into the
policy (its module's top level, ``reset``, ``act``) runs with an audit hook (PEP 578) armed: while armed, the
interpreter's own audit events for running code from a string, starting processes, opening files and sockets, loading
native code, reaching frames and code objects, and importing anything outside the allowed modules raise instead of
happening. The hook is installed once per process and is disarmed outside those calls, so the user's own code is
not affected. It raises the bar, it is not a boundary: code that can write the interpreter's memory could disarm it.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from promptpo.gate import ALLOWED_MODULES

_ARMED: contextvars.ContextVar[bool] = contextvars.ContextVar("promptpo_policy_running", default=False)
_OWN_CODE: contextvars.ContextVar[object] = contextvars.ContextVar("promptpo_policy_code", default=None)
"""The policy's own module code, whose one exec (its top level, run armed) is let through."""
_INSTALLED = threading.Lock()
_installed = False
ROOTS = frozenset(m.split(".")[0] for m in ALLOWED_MODULES)
BLOCKED_PREFIXES = ("os.", "subprocess.", "socket.", "ctypes.", "shutil.", "tempfile.", "urllib.", "http.", "ftplib.",
                    "smtplib.", "glob.", "pty.", "webbrowser.", "marshal.", "pickle.", "winreg.", "msvcrt.", "sys.",
                    "cpython.", "code.", "function.", "syslog.", "sqlite3.", "fcntl.", "resource.", "signal.", "mmap.")
BLOCKED = frozenset({"exec", "compile", "open", "builtins.input", "builtins.breakpoint", "object.__getattr__",
                     "object.__setattr__", "object.__delattr__", "gc.get_referrers", "gc.get_referents",
                     "gc.get_objects", "_thread.start_new_thread", "array.__new__", "setopencode"})
LIBRARY_CALLS = {("collections", "namedtuple"): {"exec", "compile", "sys._getframe", "object.__setattr__"},
                 ("typing", "*"): {"sys._getframe", "object.__setattr__"},
                 ("typing_extensions", "*"): {"sys._getframe", "object.__setattr__"}}
"""Library functions that may raise these events themselves (the frame right above the audited call is theirs):
namedtuple compiles source text it makes from names it checks (identifiers) and reads its caller's module name;
typing's special forms read their caller's module and set class attributes while building types."""


class PolicyForbidden(RuntimeError):
    """A trusted policy tried something the audit hook stops (see the module docstring)."""


def _hook(event: str, args: tuple) -> None:
    if not _ARMED.get():
        return
    if event == "import":
        name = args[0] if args else ""
        if isinstance(name, str) and name.split(".")[0] in ROOTS:
            return
        raise PolicyForbidden(f"the policy imported {name!r} while running")
    if event == "exec" and args and args[0] is _OWN_CODE.get():
        _OWN_CODE.set(None)  # once
        return
    if _library_call(event):
        return
    if event in BLOCKED or event.startswith(BLOCKED_PREFIXES):
        raise PolicyForbidden(f"the policy tried {event} while running (stopped by promptpo's audit hook)")


def _library_call(event: str) -> bool:
    """Whether the Python frame that raised ``event`` is a library function allowed to (LIBRARY_CALLS): only that
    frame counts, so policy code a library calls back cannot borrow the library's leave."""
    token = _ARMED.set(False)  # reading frames raises audit events of its own
    try:
        frame = sys._getframe(2)  # past this function and the hook
        module = (frame.f_globals.get("__name__", "") or "").split(".")[0]
        allowed = LIBRARY_CALLS.get((module, frame.f_code.co_name)) or LIBRARY_CALLS.get((module, "*")) or ()
        return event in allowed
    except ValueError:
        return False
    finally:
        _ARMED.reset(token)


def _install() -> None:
    global _installed
    with _INSTALLED:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


@contextmanager
def armed(own_code: object = None):
    """Run the block as policy code: the audit hook stops what the module docstring lists (``own_code``: the
    compiled module the block execs first, the one exec let through)."""
    _install()
    token, code = _ARMED.set(True), _OWN_CODE.set(own_code)
    try:
        yield
    finally:
        _ARMED.reset(token)
        _OWN_CODE.reset(code)


def call(fn: Callable[..., Any], *args: Any) -> Any:
    with armed():
        return fn(*args)
