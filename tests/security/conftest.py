"""The harness for the attack suite: each attack is the first answer of a real run.

The gate and the import guard are off here (``gate=False``): these cases test the sandbox alone,
the boundary that must hold even for code the gate would have refused.

A run (CartPole, scripted answers) gets the attack as its first candidate and an honest policy
as its second. Then the harness checks what every case must satisfy: the run kept going and
reached its target, nothing outside the run folder changed, no secret reached the run folder,
and no sandbox process, cgroup or container is left.
"""

from __future__ import annotations

import json
import os
import resource
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT, docker_problem, worker_processes
from conftest import sandbox_containers as left_containers

SECRET = "sk-promptpo-canary-7f3e9a1c2b"
HONEST = '''```python
import os
import sys


class Policy:
    def act(self, obs):
        x, v, a, w = obs
        return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)


print("SCRATCH", sorted(os.listdir("/tmp")) + sorted(os.listdir("/dev/shm")), "sitecustomize" in sys.modules)
try:
    with open("/proc/sysvipc/shm") as handle:
        print("SYSV", len(handle.read().splitlines()) - 1)
except OSError:
    print("SYSV", 0)
```'''
WATCH_SKIP = {".venv", ".git", "runs", "__pycache__", ".pytest_cache"}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in WATCH_SKIP and not d.endswith(".egg-info")]
        for name in filenames:
            path = Path(dirpath) / name
            try:
                stat = path.lstat()
            except OSError:
                continue
            found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def promptpo_cgroups() -> list[str]:
    """Worker cgroups this test process made and did not remove."""
    base = Path("/sys/fs/cgroup")
    return [str(p) for p in base.glob(f"*/promptpo-{os.getpid()}-*")] + [str(p) for p in base.glob(f"promptpo-{os.getpid()}-*")]


def sandbox_containers() -> list[str]:
    """The ids of the sandbox containers left behind (conftest.sandbox_containers); none where no engine answers."""
    try:
        return [c.id for c in left_containers()]
    except Exception:  # noqa: BLE001 - no engine: no containers
        return []


@pytest.fixture
def host_listener():
    """A TCP server on the host's loopback that no candidate may reach (``accept`` must time out)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    yield listener
    listener.close()


@pytest.fixture(scope="session", params=["process", "docker"])
def backend(request) -> str:
    if request.param == "docker":
        problem = docker_problem()
        if problem:
            if IN_CI:
                pytest.fail(f"the Docker backend must work in CI: {problem}")
            pytest.skip(f"Docker backend unavailable here: {problem}")
    return request.param


@dataclass
class Attack:
    run_dir: Path
    summary: dict
    first: dict
    second: dict | None
    home: Path
    project: Path

    @property
    def outcome(self) -> str:
        return self.first["outcome"]

    @property
    def output(self) -> str:
        return (self.first.get("evaluation") or {}).get("output") or ""

    def text_of_run(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.run_dir.rglob("*") if p.is_file())


@pytest.fixture
def attack(backend, tmp_path, monkeypatch, request):
    """Run ``code`` as the first candidate of a real run on ``backend``; check the common guarantees."""
    home, project = tmp_path / "home", tmp_path / "project"
    (home / ".ssh").mkdir(parents=True)
    (home / ".aws").mkdir()
    (home / ".ssh" / "id_rsa").write_text(f"-----BEGIN KEY----- {SECRET}")
    (home / ".aws" / "credentials").write_text(f"aws_secret_access_key = {SECRET}")
    project.mkdir()
    (project / ".env").write_text(f"OPENAI_API_KEY={SECRET}")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    from promptpo.seeds import episode_secret

    episode_secret()  # promptpo's own per-user secret, made before the watch starts (the candidate never sees it)

    def run(code: str, raw: bool = False, **limits) -> Attack:
        """``raw``: ``code`` is the whole answer as the model sent it, fences or not."""
        import promptpo

        answers = project / "answers.jsonl"
        first = code if raw or code.lstrip().startswith("```") else f"```python\n{code}\n```"
        answers.write_text(json.dumps({"content": first}) + "\n" + json.dumps({"content": HONEST}) + "\n")
        watched = {root: snapshot(root) for root in (ROOT, home, project)}
        before_workers = worker_processes()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        options = dict(act_timeout_s=1.0, load_timeout_s=5.0, candidate_wall_s=30.0, candidate_cpu_s=5,
                       memory_mb=512)
        options.update(limits)
        result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=project / "runs",
                                   sandbox=backend, rounds=2, candidates=1, episodes=1, max_repairs=1, gate=False,
                                   **options)
        records = {p.stem: json.loads(p.read_text()) for p in (result.run_dir / "candidates").glob("*.json")}
        ordered = sorted(records.values(), key=lambda r: r["llm_call"])
        outcome = Attack(result.run_dir, result.summary, ordered[0], ordered[1] if len(ordered) > 1 else None,
                         home, project)
        # The run kept going: the honest candidate after the attack was evaluated and won.
        assert result.status == "target_reached", (result.status, result.reason, outcome.first)
        assert outcome.second is not None and outcome.second["outcome"] == "ok"
        # Nothing outside the run folder changed.
        for root, before in watched.items():
            after = snapshot(root)
            if root == project:
                after = {k: v for k, v in after.items() if not k.startswith(str(project / "runs"))}
                before = {k: v for k, v in before.items() if not k.startswith(str(project / "runs"))}
            assert after == before, f"files changed under {root}: {set(after) ^ set(before)}"
        # No secret reached the run folder.
        assert SECRET not in outcome.text_of_run()
        # Nothing of the sandbox is left behind.
        assert worker_processes() <= before_workers
        assert promptpo_cgroups() == []
        assert sandbox_containers() == []
        # The host did not balloon (output and memory bombs stay on the other side).
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200 * 1024
        # The next candidate saw a clean scratch space.
        second_output = (outcome.second.get("evaluation") or {}).get("output") or ""
        assert "SCRATCH [] False" in second_output, second_output
        table = os.environ.get("PROMPTPO_ATTACK_TABLE")
        if table:  # collect case x backend x outcome for the report
            with open(table, "a") as handle:
                handle.write(json.dumps({"case": request.node.name.split("[")[0], "id": request.node.callspec.id,
                                         "backend": backend, "outcome": outcome.outcome,
                                         "error": outcome.first.get("error", "")[:80]}) + "\n")
        return outcome

    return run


