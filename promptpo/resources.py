"""Where the shipped data folders (prompts/, sandbox/, envspecs/) live.

In a wheel they are inside the package as ``promptpo/_data/<name>``; in a source checkout or
an editable install they are the top-level folders next to the package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"promptpo data folder {name!r} is missing from the installation")
