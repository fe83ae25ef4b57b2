"""`promptpo library add/list/show/remove`: the solved tasks new runs are shown as worked examples."""

from __future__ import annotations

from pathlib import Path

import click

from promptpo.commands.common import OUT, console

LIBRARY_OPTION = click.option("--library", "root", default=None,
                              help="Library folder (default $PROMPTPO_LIBRARY, else ~/.local/share/promptpo/library).")


def _root(root: str | None) -> Path:
    from promptpo.policy.library import default_root

    return Path(root).expanduser() if root else default_root()


@click.group()
def library() -> None:
    """The library of solved tasks (promptpo.policy.library): plain folders of entry.json and policy.py."""


@library.command("add")
@click.argument("runs", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Add a run that missed its target too (its entry says so).")
@LIBRARY_OPTION
@OUT
def add(runs: tuple[str, ...], force: bool, root: str | None, out: Path) -> None:
    """Add the best program of each RUN (a run id under --out, or a path) that reached its target."""
    from promptpo.policy.library import add as add_entry

    where = _root(root)
    for run in runs:
        folder = Path(run) if Path(run).is_dir() else out / run
        entry = add_entry(folder, where, force)
        console().print(f"added {entry.name} ({entry.env}, {entry.score_text()}) to {where}"
                        + (f"; its run missed its target ({entry.missed})" if entry.missed else ""), markup=False)


@library.command("list")
@LIBRARY_OPTION
def list_entries(root: str | None) -> None:
    """The entries, one line each."""
    from rich.table import Table

    from promptpo.policy.library import entries
    from promptpo.text import shown

    where = _root(root)
    table = Table(title=f"library {where}")
    for column in ("name", "env", "score", "success", "verified", "from run"):
        table.add_column(column)
    for e in entries(where):
        table.add_row(shown(e.name + (" (missed its target)" if e.missed else "")), e.env, shown(e.score_text()),
                      "-" if e.success_rate is None else f"{e.success_rate:.2f}",
                      shown(e.verification or "-"), shown(e.run))
    console().print(table)


@library.command("show")
@click.argument("name")
@LIBRARY_OPTION
def show(name: str, root: str | None) -> None:
    """One entry: what it records and its program."""
    from promptpo.errors import ConfigError
    from promptpo.policy.library import entries

    found = next((e for e in entries(_root(root)) if e.name == name), None)
    if found is None:
        raise ConfigError(f"no library entry named {name!r}", "see `promptpo library list`")
    out = console()
    for key, value in found.record().items():
        out.print(f"{key}: {value}", markup=False, highlight=False)
    out.print(found.code, markup=False, highlight=False)


@library.command("remove")
@click.argument("name")
@LIBRARY_OPTION
def remove(name: str, root: str | None) -> None:
    """Delete one entry."""
    from promptpo.policy.library import remove as remove_entry

    remove_entry(_root(root), name)
    console().print(f"removed {name}")
