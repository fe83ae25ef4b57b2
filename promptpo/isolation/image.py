"""Building the Docker sandbox image from sandbox/Dockerfile without network access in the build.

The image is tagged by a hash of what goes into it (Dockerfile, worker, wire format, guard),
so a promptpo whose worker changed never talks to a stale image.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from promptpo.errors import SandboxError
from promptpo.resources import data_dir

log = logging.getLogger(__name__)

REPOSITORY = "promptpo-sandbox"
DEFAULT_BASE = "python:3.11-slim"
CONTEXT_FILES = ("Dockerfile", "worker.py", "wire.py", "guard.py", "seccomp.py")


def image_tag() -> str:
    digest = hashlib.sha256()
    for name in CONTEXT_FILES:
        digest.update(name.encode() + b"\0" + (data_dir("sandbox") / name).read_bytes())
    return f"{REPOSITORY}:{digest.hexdigest()[:12]}"


def docker_client():
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure to reach the engine means the same to the user
        raise SandboxError(f"cannot reach the Docker engine: {str(err).splitlines()[0][:200]}",
                           "start dockerd (or set DOCKER_HOST), or use --sandbox process") from None
    return client


def base_python(client, base: str) -> tuple[str, str]:
    """(major.minor, machine) of python3 in the base image, read by running it (offline)."""
    import docker

    try:
        client.images.get(base)
    except docker.errors.ImageNotFound:
        raise SandboxError(f"base image {base!r} is not on this machine",
                           "pull or build it first (e.g. docker pull python:3.11-slim, or debootstrap + docker import), "
                           "or pass another --base with python3") from None
    try:
        out = client.containers.run(base, ["python3", "-c", "import sys, platform; "
                                           "print(f'{sys.version_info[0]}.{sys.version_info[1]}', platform.machine())"],
                                    network_mode="none", remove=True)
    except docker.errors.ContainerError as err:
        raise SandboxError(f"base image {base!r} has no working python3: {err.stderr!r}"[:300]) from None
    version, machine = out.decode().split()
    return version, machine


def download_numpy(version: str, python: str, machine: str, into: Path) -> None:
    """The numpy wheel matching the host's numpy, for the image's Python (from PyPI or pip's cache)."""
    platforms = [f"manylinux_2_28_{machine}", f"manylinux_2_17_{machine}", f"manylinux2014_{machine}"]
    command = [sys.executable, "-m", "pip", "download", f"numpy=={version}", "--only-binary=:all:", "--no-deps",
               "--python-version", python, "--implementation", "cp", "--dest", str(into), "--quiet"]
    for platform_tag in platforms:
        command += ["--platform", platform_tag]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not list(into.glob("numpy-*.whl")):
        raise SandboxError(f"could not fetch a numpy {version} wheel for Python {python} on {machine}: "
                           f"{(result.stderr.strip().splitlines() or ['no wheel'])[-1][:200]}",
                           "pass --wheelhouse DIR holding a matching numpy wheel")


def build(base: str = DEFAULT_BASE, wheelhouse: Path | None = None, tag: str | None = None) -> str:
    """Build the sandbox image on ``base``; returns its tag."""
    import docker
    import numpy

    client = docker_client()
    tag = tag or image_tag()
    with tempfile.TemporaryDirectory(prefix="promptpo-image-") as tmp:
        context = Path(tmp)
        for name in CONTEXT_FILES:
            shutil.copy(data_dir("sandbox") / name, context / name)
        wheels = context / "wheelhouse"
        wheels.mkdir()
        if wheelhouse is not None:
            found = list(Path(wheelhouse).glob("*.whl"))
            if not found:
                raise SandboxError(f"no wheels in {wheelhouse}", "put a numpy wheel for the image's Python there")
            for wheel in found:
                shutil.copy(wheel, wheels / wheel.name)
        else:
            python, machine = base_python(client, base)
            download_numpy(numpy.__version__, python, machine, wheels)
        try:
            client.images.build(path=str(context), tag=tag, buildargs={"BASE": base}, rm=True, forcerm=True,
                                pull=False, network_mode="none",
                                labels={"promptpo.sandbox.image": "1", "promptpo.base": base})
        except docker.errors.BuildError as err:
            lines = [str(chunk.get("stream", chunk.get("error", ""))).strip() for chunk in err.build_log]
            raise SandboxError(f"building the sandbox image failed: {' | '.join(l for l in lines if l)[-300:]}") from None
        except docker.errors.APIError as err:
            raise SandboxError(f"building the sandbox image failed: {err.explanation or err}"[:300]) from None
    log.info("built %s on %s", tag, base)
    return tag
