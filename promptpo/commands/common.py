"""What every command shares: consoles, logging set-up, the --out option, number formatting."""

from __future__ import annotations

import logging
from pathlib import Path

import click

OUT = click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                   help="Folder holding run folders.")


def console(stderr: bool = False):
    from rich.console import Console

    made = Console(stderr=stderr, highlight=False)
    if not made.is_terminal:  # piped output: do not wrap tables at 80 columns
        made = Console(stderr=stderr, highlight=False, width=200)
    return made


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=console(stderr=True), show_time=False, show_path=False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", handlers=[handler])

def num(value, prefix: str = "") -> str:
    return "-" if value is None else f"{prefix}{value:.4g}" if isinstance(value, float) else f"{prefix}{value}"
