"""Finding run folders under a folder: a run's own (runs/RUN), and a bench's (benches/SUITE/method/task/seed-N/RUN)."""

from __future__ import annotations

import os
from pathlib import Path

MAX_DEPTH = 6
"""How deep under the folder given run folders are looked for (a bench's: SUITE/method/task/seed-N/RUN is 5)."""


def run_folders(root: Path) -> list[Path]:
    """Every folder under ``root`` holding a run.json (``root`` itself included), in path order. Symlinks are not
    followed, and a run's own folders are not searched."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if "run.json" in filenames:
            found.append(here)
            dirnames[:] = []
        elif len(here.relative_to(root).parts) >= MAX_DEPTH:
            dirnames[:] = []
        dirnames.sort()
    return sorted(found)


def newest_first(folders: list[Path]) -> list[Path]:
    """Run ids start with their start time (20261206-093651-...): the newest first, whatever folder holds them."""
    return sorted(folders, key=lambda p: (p.name, str(p)), reverse=True)


def expand(patterns: list[str], out: Path) -> list[Path]:
    """Run folders named by ``patterns``: folders, run ids under ``out``, globs ('runs/*'), or folders holding
    run folders (a bench's); each once, in the order given. A pattern that names none is a RunStoreError."""
    import glob

    from promptpo.errors import RunStoreError

    folders: list[Path] = []
    for pattern in patterns:
        matches = [Path(p) for p in sorted(glob.glob(pattern))] or [Path(pattern), out / pattern]
        found = [f for m in matches for f in run_folders(m)]
        if not found:
            raise RunStoreError(f"no run folder matches {pattern!r}", "give run folders, run ids or a glob like 'runs/*'")
        folders += [f for f in found if f not in folders]
    return folders
