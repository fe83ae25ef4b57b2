"""promptpo.commands.common: what every command shares."""

from __future__ import annotations

import io

from conftest import run_cli


def test_piped_output_is_not_padded_to_the_console_width(monkeypatch):
    """Piped, every line of a diff and a table's title came out 200 columns wide, padded with spaces."""
    from rich.syntax import Syntax
    from rich.table import Table

    from promptpo.commands.common import console

    piped = io.StringIO()
    monkeypatch.setattr("sys.stdout", piped)
    out = console()
    table = Table(title="a title")
    table.add_column("a column")
    table.add_row("x" * 150)  # wider than 80: not wrapped
    out.print(table)
    out.print(Syntax("--- a.py\n+++ b.py\n+x = 1\n", "diff"))
    out.print("kept  ", end="")
    out.print("whole")
    lines = piped.getvalue().split("\n")
    assert lines[0] == "a title".center(len(lines[1])).rstrip() and "x" * 150 in piped.getvalue()
    assert "+x = 1" in lines and "kept  whole" in lines
    assert not [line for line in lines if line != line.rstrip(" ")]


def test_a_command_piped_pads_no_line():
    proc = run_cli("envs")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") > 5 and not [l for l in proc.stdout.splitlines() if l.endswith(" ")]
