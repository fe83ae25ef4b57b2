"""Isolation backends: where untrusted candidate code runs."""

from __future__ import annotations

from promptpo.errors import ConfigError
from promptpo.isolation.base import Limits, Sandbox

BACKENDS = ("process", "docker")


def make_sandbox(name: str) -> Sandbox:
    if name == "process":
        from promptpo.isolation.process import ProcessSandbox

        return ProcessSandbox()
    if name == "docker":
        from promptpo.isolation.docker import DockerSandbox

        return DockerSandbox()
    raise ConfigError(f"unknown sandbox {name!r}", f"choose one of: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Limits", "Sandbox", "make_sandbox"]
