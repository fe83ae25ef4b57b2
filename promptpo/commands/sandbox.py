"""`promptpo sandbox build` and `promptpo sandbox doctor`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from promptpo.commands.common import console, setup_logging


@click.group()
def sandbox() -> None:
    """Build and check the isolation backends."""


@sandbox.command("build")
@click.option("--base", default=None, help="Base image with python3 (default: python:3.11-slim).")
@click.option("--wheelhouse", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Folder with the numpy wheel to install (default: download the host's numpy version).")
@click.option("--tag", default=None, help="Image tag (default: promptpo-sandbox:<hash of the worker files>).")
def sandbox_build(base: str | None, wheelhouse: Path | None, tag: str | None) -> None:
    """Build the Docker sandbox image from sandbox/Dockerfile (the build itself has no network)."""
    setup_logging(False)
    from promptpo.isolation.image import DEFAULT_BASE, build

    built = build(base or DEFAULT_BASE, wheelhouse, tag)
    print(f"built {built}")


@sandbox.command("doctor")
def sandbox_doctor() -> None:
    """Report which sandbox backends work on this machine, and why not."""
    from promptpo.isolation.check import diagnose

    out = console()
    working = 0
    for backend, ok, detail in diagnose():
        working += ok
        out.print(f"{backend:8} {'ok' if ok else 'unavailable':12} {detail}", markup=False)
    sys.exit(0 if working else 1)
