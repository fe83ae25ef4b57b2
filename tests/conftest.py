"""Shared fixtures: paths to scripted answers, a CLI runner, and a check that bubblewrap exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = Path(__file__).resolve().parent / "answers"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""Run folders written by earlier versions (runs-before-engine/...), which every view must still open."""
IN_CI = os.environ.get("CI") == "true"


def pytest_configure(config):
    # In CI the sandbox must be the real one: fail loudly instead of testing the fallback only.
    if IN_CI and shutil.which("bwrap") is None:
        raise pytest.UsageError("CI=true but bubblewrap (bwrap) is missing: .ci/run must install it")


@pytest.fixture(autouse=True)
def own_library(tmp_path_factory, monkeypatch):
    """Every test gets an empty library of solved tasks (promptpo.policy.library): a run that reaches its target adds
    itself, and later runs would otherwise be shown what earlier tests solved."""
    monkeypatch.setenv("PROMPTPO_LIBRARY", str(tmp_path_factory.mktemp("library")))


@pytest.fixture
def answers() -> Path:
    return ANSWERS


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMPTPO_MODEL"}
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptpo", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env or cli_env(), input=input)


def resume_as_if_it_died(run_dir: Path, lost: list[str]) -> subprocess.CompletedProcess:
    """Delete the records matching the globs in ``lost`` (what a run killed at that point had not written), mark
    the run as still running, and `promptpo resume` it."""
    import json

    for pattern in lost:
        for path in run_dir.glob(pattern):
            path.unlink()
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    return run_cli("resume", run_dir.name, "--out", str(run_dir.parent))


def scripted(path: Path, *answers: str) -> str:
    """The model string that replays ``answers`` (whole answers, in call order), written as JSON lines to ``path``
    (a folder gets an answers.jsonl)."""
    if path.suffix != ".jsonl":
        path.mkdir(parents=True, exist_ok=True)
        path = path / "answers.jsonl"
    path.write_text("".join(json.dumps({"content": a}) + "\n" for a in answers))
    return f"scripted:{path}"


def cli_on(run: Path, command: str, *args: str) -> subprocess.CompletedProcess:
    """``promptpo COMMAND RUN ARGS --out FOLDER``: a command on one run, named by its id in the folder holding it."""
    return run_cli(command, run.name, *args, "--out", str(run.parent))


def succeeds_on_reach(policy, seed: int, steps: int) -> bool:
    """Whether ``policy`` (reset/act) reaches the goal of Meta-World's reach-v3 within ``steps``, played here in the
    test's own process as a user would play a loaded policy."""
    import gymnasium as gym
    import metaworld  # noqa: F401 - registers Meta-World/MT1

    env = gym.make("Meta-World/MT1", env_name="reach-v3", seed=seed)
    obs, _ = env.reset(seed=seed)
    policy.reset()
    for _ in range(steps):
        obs, _, _, _, info = env.step(policy.act(obs))
        if info["success"] > 0:
            return True
    return False


def only_run(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def new_run(out: Path, *args: str) -> Path:
    """The run folder a promptpo command (optimize, baseline, ...) adds under ``out``; the command must succeed."""
    before = set(out.iterdir()) if out.exists() else set()
    proc = run_cli(*args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (folder,) = [p for p in out.iterdir() if p not in before]
    return folder


def chromium_session(log: tuple[str, ...] = ()):
    """A headless Chromium driven through Selenium, with the browser's ``log`` kinds ("browser", "performance")
    kept. The suite needs chromium and chromium-driver (scripts/test installs them): without them this fails."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail("chromium and chromium-driver are needed for this test: scripts/test installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1400"):
        options.add_argument(flag)
    if log:
        options.set_capability("goog:loggingPrefs", {kind: "ALL" for kind in log})
    session = webdriver.Chrome(options=options, service=Service(driver))
    session.set_page_load_timeout(60)
    return session


def worker_processes() -> set[int]:
    """Sandbox workers started by this test process (other processes on the machine are not ours)."""
    from promptpo.isolation.base import descendants

    found = set()
    for pid in descendants(os.getpid()):
        try:
            if b"worker.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:
            continue
    return found


def docker_problem() -> str | None:
    """Why the Docker sandbox cannot run here, or None when it can."""
    try:
        from promptpo.isolation.docker import DockerSandbox

        DockerSandbox().close()
    except Exception as err:  # noqa: BLE001 - any reason counts
        return str(err)
    return None


def sandbox_containers(owner: int | None = None) -> list:
    """Docker sandbox containers (id, labels) of ``owner``'s runs; without one, those left behind: this process's own
    and any whose owner is gone, not a live run's beside this test (another test process's). Listed without a second
    request per container: one that goes meanwhile must not fail the listing."""
    from types import SimpleNamespace

    import docker

    from promptpo.isolation.docker import owner_alive

    found = docker.from_env().api.containers(all=True, filters={"label": "promptpo.sandbox=1"})
    listed = [SimpleNamespace(id=c["Id"], labels=c.get("Labels") or {}) for c in found]
    if owner is not None:
        return [c for c in listed if c.labels.get("promptpo.pid") == str(owner)]
    return [c for c in listed if c.labels.get("promptpo.pid") == str(os.getpid())
            or not owner_alive(c.labels.get("promptpo.pid", ""), c.labels.get("promptpo.pid_start", ""))]


def read_json(path: Path):
    return json.loads(path.read_text())


class OnlyContext:
    """The engine as a task kind may see it: the members of promptpo.engine.context.RunContext, and nothing else
    (any other member is an AttributeError), for tests that show a task needs no more of the engine."""

    def __init__(self, engine):
        from promptpo.engine.context import RunContext

        self._engine = engine
        self._members = {name for name in vars(RunContext) if not name.startswith("_")}

    def __getattr__(self, name: str):
        if name not in self._members:
            raise AttributeError(f"{name!r} is not part of RunContext")
        return getattr(self._engine, name)
