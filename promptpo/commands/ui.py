"""`promptpo ui`: watch and audit runs in the browser (read-only)."""

from __future__ import annotations

import errno
import ipaddress
import secrets
from pathlib import Path

import click

from promptpo.commands.common import OUT, console


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("ui")
@OUT
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--token", default=None, help="A secret every request must show; required for a non-loopback --host "
              "(give 'auto' for a random one).")
def ui(out: Path, host: str, port: int, token: str | None) -> None:
    """Serve a read-only web view of the run folders under --out: runs, a run's progress and lineage, each
    candidate's code, diff, prompt and answer, and compare."""
    from promptpo.errors import ConfigError

    if not loopback(host) and not token:
        raise ConfigError(f"--host {host} is reachable from other machines, and the view shows every prompt, answer "
                          "and program of your runs", "add --token SECRET (or --token auto), or keep --host 127.0.0.1")
    if token == "auto":
        token = secrets.token_urlsafe(16)
    if not out.is_dir():
        raise ConfigError(f"{out} is not a folder of runs", "give --out the folder your runs are in (default runs/)")
    try:
        import uvicorn

        from promptpo.ui.app import make_app
    except ImportError:
        raise ConfigError("promptpo ui needs Starlette and uvicorn", "pip install 'promptpo[ui]'") from None
    sock = listening(host, port)
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    console(stderr=True).print(f"serving {out} (read-only) at {url}  (Ctrl-C stops)", markup=False)
    uvicorn.Server(uvicorn.Config(make_app(out, token), log_level="warning")).run(sockets=[sock])


def listening(host: str, port: int):
    """A socket bound to ``host:port`` for the server, bound before anything says it serves there (on a busy port
    `ui` printed "serving at ..." and then uvicorn's errno)."""
    import socket

    from promptpo.errors import ConfigError

    if not 0 < port < 65536:  # getaddrinfo would take 99999 as 34463
        raise ConfigError(f"--port {port} is not a port number", "give one from 1 to 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as err:
        raise ConfigError(f"--host {host} is not an address this machine can listen on ({err})",
                          "give an address such as 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a port left in TIME_WAIT is free
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        why = "is in use by another program" if err.errno == errno.EADDRINUSE else f"cannot be used ({err.strerror})"
        raise ConfigError(f"port {port} on {host} {why}", "give another --port, or stop what is using it") from None
    return sock
