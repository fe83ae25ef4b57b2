"""The sandbox worker: runs one candidate's code and nothing else.

Started as ``python -I -S worker.py LIBDIR`` inside the sandbox. It reads frames (see wire.py)
on its stdin and answers on its stdout; the candidate's own prints go to stderr, which the host
keeps in a capped buffer. It holds one policy instance per episode slot, so policies may keep
state between calls. It never sees the simulator: only observations come in.
"""

from __future__ import annotations

import errno
import os
import select
import sys
import time
import traceback


def _take_protocol_fds() -> tuple[int, int]:
    """Move the protocol to private fds; fd 0 reads nothing and fd 1 goes to stderr."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


POLL_S, POLL_STEP_S = 0.003, 0.0001


class Reader:
    """Buffered reads from the protocol fd: one syscall usually brings a whole frame.

    After replying to a request marked ``stream`` (the host sends more without waiting for replies: two
    pipelined half-batches, promptpo.policy.evaluate) it looks for the next request every POLL_STEP_S for POLL_S instead
    of sleeping in read. A worker asleep in read has to be woken by the host's write (on a VM an inter-processor
    interrupt, paid by the host's stepping loop); one asleep on a timer wakes by itself, and the host is busy
    stepping the other half meanwhile. Otherwise (the host waits for this reply) it sleeps in select, which
    wakes soonest."""

    def __init__(self, fd: int):
        self.fd, self.pending = fd, bytearray()
        self.poll_until = 0.0
        os.set_blocking(fd, False)

    def exact(self, n: int) -> bytes:
        while len(self.pending) < n:
            try:
                chunk = os.read(self.fd, max(1 << 16, n - len(self.pending)))
            except BlockingIOError:
                if time.monotonic() < self.poll_until:
                    time.sleep(POLL_STEP_S)
                else:
                    select.select([self.fd], [], [])
                continue
            if not chunk:
                raise EOFError
            self.pending += chunk
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:  # a socket used both ways is non-blocking (see Reader)
            select.select([], [fd], [])


# errno values that mean the sandbox refused: no network, read-only or forbidden files.
BLOCKED_ERRNOS = frozenset({errno.EPERM, errno.EACCES, errno.EROFS, errno.ENETUNREACH, errno.ENETDOWN,
                            errno.EHOSTUNREACH, errno.EAFNOSUPPORT, errno.ECONNREFUSED})


def _blocked(exc: BaseException) -> bool:
    return type(exc).__name__ == "gaierror" or (isinstance(exc, OSError) and exc.errno in BLOCKED_ERRNOS)


def _text(make, limit: int) -> str:
    """Text about the candidate's exception, which the candidate controls: capped, never raising."""
    try:
        text = make()
        return text[-limit:] if isinstance(text, str) else "<not text>"
    except BaseException:  # noqa: BLE001 - a __str__ that raises, recursion, ...
        return "<unprintable>"


def _error(exc: BaseException, env: int | None = None, kind: str | None = None) -> dict:
    def tb() -> str:  # the worker's own frames dropped: the model should see its code, not ours
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return "".join(line for line in lines if 'worker.py"' not in line)

    if kind is None and isinstance(exc, MemoryError):
        kind = "MemoryError"
    return {"ok": False, "error": {"type": (kind or _text(lambda: type(exc).__name__, 100))[:100],
                                   "message": _text(lambda: str(exc)[:2000], 2000),
                                   "traceback": _text(tb, 8000), "env": env, "blocked": _blocked(exc)}}


class Candidate:
    """The loaded code: a policy (Policy class or act function) or a named function to call."""

    def __init__(self, code: str, action: dict | None, entry: str = "policy", guard: dict | None = None):
        self.namespace: dict = {"__name__": "policy"}
        if guard is not None:
            from guard import guarded_builtins  # imported at start-up: see main

            self.namespace["__builtins__"] = guarded_builtins(guard)
        exec(compile(code, "policy.py", "exec"), self.namespace)  # noqa: S102 - this is the sandbox
        self.factory = self.namespace.get("Policy")
        self.function = self.namespace.get("act")
        if entry != "policy":
            if not callable(self.namespace.get(entry)):
                raise LookupError(f"the code defines no {entry}() function")
        elif callable(self.factory):
            if not callable(getattr(self.factory, "act", None)):
                raise LookupError("the Policy class has no act(self, obs) method (defined or inherited)")
        elif not callable(self.function):
            raise LookupError("the code defines neither a Policy class nor an act(obs) function")
        action = action or {"kind": "box", "shape": []}
        self.action = dict(action, shape_tuple=tuple(action["shape"]) if action["kind"] == "box" else ())
        self.policies: dict[int, object] = {}
        self.feedback = None

    def reset(self, envs: list[int]) -> None:
        for env in envs:
            if callable(self.factory):
                policy = self.factory()
                if callable(getattr(policy, "reset", None)):
                    policy.reset()
                self.policies[env] = policy

    def act(self, env: int, obs):
        if callable(self.factory):
            return self.policies[env].act(obs)
        return self.function(obs)

    def summarize(self, arrays: dict) -> object:
        """``Feedback().summarize_trajectory(...)`` on one episode's steps (one instance per worker)."""
        if self.feedback is None:
            self.feedback = self.namespace["Feedback"]()
        obs = {name[4:]: value.copy() for name, value in arrays.items() if name.startswith("obs.")}
        observations = obs["obs"] if list(obs) == ["obs"] else obs
        rewards = arrays["rewards"].copy()
        columns = {name[5:]: value.tolist() for name, value in arrays.items() if name.startswith("info.")}
        infos = [{key: values[t] for key, values in columns.items()} for t in range(len(rewards))]
        return self.feedback.summarize_trajectory(observations, arrays["actions"].copy(), rewards, infos)


def _value(array):
    """A writable copy for the policy; 0-d arrays arrive as plain Python numbers."""
    return array.item() if array.ndim == 0 else array.copy()


class InvalidAction(Exception):
    pass


def to_action(value, action: dict, np):
    """The policy's return value as a float64 array of the declared shape, or InvalidAction."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == action["shape_tuple"]:
        return value  # the common case, checked cheaply
    if action["kind"] == "discrete":
        if isinstance(value, (bool, np.bool_)):
            raise InvalidAction(f"act returned a bool ({value!r}); return an int in [0, {action['n'] - 1}]")
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidAction(f"act returned {type(value).__name__}, expected an int") from None
        if array.size != 1:
            raise InvalidAction(f"act returned an array of shape {array.shape}, expected a single int")
        return array.reshape(())
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidAction(f"act returned {type(value).__name__}, expected a float array of shape "
                            f"{tuple(action['shape'])}") from None
    if array.shape != tuple(action["shape"]):
        if array.size == int(np.prod(action["shape"])) and array.ndim <= 1:
            return array.reshape(action["shape"])
        raise InvalidAction(f"act returned shape {array.shape}, expected {tuple(action['shape'])}")
    return array


def serve(proto_in: int, proto_out: int) -> None:
    import random

    import numpy as np

    import wire

    candidate: Candidate | None = None
    reader = Reader(proto_in)
    frames = wire.Memo()  # act requests and replies repeat their headers

    def send(reply: dict, arrays=None) -> None:
        _write_all(proto_out, frames.encode(("ok",), reply, arrays) if reply == {"ok": True} else
                   wire.encode(reply, arrays))
        reader.poll_until = time.monotonic() + POLL_S if header.get("stream") is True else 0.0  # the request's

    while True:
        try:
            header_len, payload_len = wire.split_prefix(reader.exact(wire.PREFIX.size), 1 << 30)
            body = reader.exact(header_len + payload_len)
            header, arrays = frames.decode(body[:header_len], body[header_len:])
        except EOFError:
            return
        op = header.get("op")
        if op == "exit":
            return
        if op == "load":
            try:
                candidate = Candidate(header["code"], header.get("action"), header.get("entry", "policy"),
                                      header.get("guard"))
                send({"ok": True})
            except BaseException as exc:  # noqa: BLE001 - report everything the code raises
                send(_error(exc, kind="LoadError" if isinstance(exc, LookupError) else None))
            continue
        if candidate is None:
            send({"ok": False, "error": {"type": "ProtocolError", "message": "no code loaded", "traceback": ""}})
            continue
        if op == "reset":
            seed = int(header.get("seed", 0))
            np.random.seed(seed % (2**32))
            random.seed(seed)
            try:
                candidate.reset(header["envs"])
                send({"ok": True})
            except BaseException as exc:  # noqa: BLE001
                send(_error(exc))
            continue
        if op == "act":
            envs = header["envs"]
            single = list(arrays) == ["obs"]
            out = []
            for i, env in enumerate(envs):
                obs = _value(arrays["obs"][i]) if single else {k: _value(v[i]) for k, v in arrays.items()}
                try:
                    out.append(to_action(candidate.act(env, obs), candidate.action, np))
                except InvalidAction as exc:
                    send(_error(exc, env, kind="InvalidAction"))
                    break
                except BaseException as exc:  # noqa: BLE001
                    send(_error(exc, env))
                    break
            else:
                send({"ok": True}, {"action": np.stack(out) if out else np.zeros((0,))})
            continue
        if op == "feedback":  # the program's Feedback class on one recorded episode (promptpo.policy.summarizer)
            try:
                result = candidate.summarize(arrays)
            except BaseException as exc:  # noqa: BLE001
                send(_error(exc))
                continue
            if type(result) is not str:
                kind = _text(lambda: type(result).__name__, 100)
                send({"ok": False, "error": {"type": "InvalidResult", "traceback": "", "message":
                                             f"summarize_trajectory returned {kind}, expected a str"}})
                continue
            send({"ok": True, "result": result[:2000]})
            continue
        if op == "call":  # a named function with JSON arguments, e.g. schedule(progress, metrics)
            import json

            try:
                result = candidate.namespace[header["name"]](*header.get("args", []))
            except BaseException as exc:  # noqa: BLE001
                send(_error(exc))
                continue
            try:
                json.dumps(result, allow_nan=False)
            except (TypeError, ValueError) as exc:
                send(_error(exc, kind="InvalidResult"))
                continue
            send({"ok": True, "result": result})
            continue
        send({"ok": False, "error": {"type": "ProtocolError", "message": f"unknown op {op!r}", "traceback": ""}})


def apply_limits(limits: dict) -> None:
    """Lower our own rlimits before any candidate code arrives (lowering needs no privilege)."""
    import resource

    mb = 1024 * 1024
    for name, value in (("RLIMIT_CPU", limits.get("cpu_s")), ("RLIMIT_AS", limits.get("memory_mb", 0) * mb),
                        ("RLIMIT_FSIZE", limits.get("file_size_mb", 0) * mb),
                        ("RLIMIT_NOFILE", limits.get("open_files")), ("RLIMIT_CORE", 0)):
        if value is None or (value == 0 and name != "RLIMIT_CORE"):
            continue
        soft, hard = resource.getrlimit(getattr(resource, name))
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        # The CPU hard limit sits a little above the soft one: SIGXCPU first, then SIGKILL.
        new_hard = value + 2 if name == "RLIMIT_CPU" and hard == resource.RLIM_INFINITY else value
        resource.setrlimit(getattr(resource, name), (value, new_hard))


def _connect(path: str, proto_in: int, proto_out: int) -> int:
    """The protocol over the unix socket at ``path`` (the Docker backend's frames bypass the daemon this way):
    the host's one-time token comes first on stdin and goes back first on the socket, then stdin and stdout are
    closed (the exec stream keeps only what the code prints). Returns the socket's fd, used both ways."""
    import socket

    token = b""
    while len(token) < TOKEN_BYTES:
        chunk = os.read(proto_in, TOKEN_BYTES - len(token))
        if not chunk:
            raise SystemExit("the host sent no token")
        token += chunk
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    channel.connect(path)
    channel.sendall(token)
    os.close(proto_in)
    os.close(proto_out)
    return channel.detach()


TOKEN_BYTES = 32


def main() -> None:
    """argv: worker.py LIMITS_JSON [--ipc SOCKET] [LIBDIR...]"""
    import json

    proto_in, proto_out = _take_protocol_fds()
    args = sys.argv[2:]
    if args[:1] == ["--ipc"]:
        proto_in = proto_out = _connect(args[1], proto_in, proto_out)
        args = args[2:]
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here] + args
    # Imported before the address-space limit applies and before a candidate arrives: a warm worker has them
    # (numpy.random alone takes ~13 ms, which every candidate's first reset paid).
    import random  # noqa: F401
    import numpy  # noqa: F401
    import numpy.random  # noqa: F401
    import guard  # noqa: F401
    import seccomp

    seccomp.install()  # before any candidate code: it can never be undone, in this process or any it starts
    apply_limits(json.loads(sys.argv[1]))
    serve(proto_in, proto_out)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)  # no interpreter teardown (~30 ms with numpy loaded): the host waits for this exit


if __name__ == "__main__":
    main()
