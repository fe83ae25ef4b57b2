"""promptpo.commands.ui: the `ui` command itself (its pages are tests/test_ui.py's)."""

from __future__ import annotations

import socket

from conftest import run_cli


def test_a_busy_port_is_one_line_and_exit_2(tmp_path):
    """On a busy port `ui` printed "serving at ..." and then uvicorn's errno."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        proc = run_cli("ui", "--out", str(tmp_path), "--port", str(port), timeout=60)
    finally:
        taken.close()
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"promptpo: error: port {port} on 127.0.0.1 is in use by another program "
                                        "(give another --port, or stop what is using it)"]
    assert "serving" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_a_port_out_of_range_is_one_line(tmp_path):
    proc = run_cli("ui", "--out", str(tmp_path), "--port", "99999", timeout=60)  # served on 34463 before
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["promptpo: error: --port 99999 is not a port number (give one from 1 to 65535)"]
