"""Where the shipped data folders (prompts/, sandbox/, envspecs/) live.

In a wheel they are inside the package as ``promptpo/_data/<name>``; in a source checkout or
an editable install they are the top-level folders next to the package.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"promptpo data folder {name!r} is missing from the installation")


@cache
def sandbox_module(name: str) -> ModuleType:
    """A module of sandbox/ (wire.py, guard.py), the one implementation the worker and the host share, loaded from
    its file."""
    spec = importlib.util.spec_from_file_location(f"promptpo_sandbox_{name}", data_dir("sandbox") / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
