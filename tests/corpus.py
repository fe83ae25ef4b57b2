"""A corpus of run folders written by the real commands, the kinds a user's `runs/` folder holds (issue 38).

`build(root)` runs promptpo in subprocesses — scripted answers from tests/answers, the offline proposer,
PPO baselines, a bench suite — then makes the damaged folders a crash or a kill leaves (a corrupt
summary.json, an events.jsonl whose last line was cut short) from copies of whole ones. It returns a
`Corpus` naming each folder by its role, so tests can look one up without depending on the run ids.

Layout under ``root``::

    runs/                  every optimize / baseline run, and the damaged copies
    benches/tiny/...       one bench suite: benches/tiny/method/task/seed-N/RUN
    library/               the library the runs that reached their target joined
    answers/               answer sets composed from tests/answers (the interrupted-then-resumed run)

`PROMPTPO_TEST_CORPUS=DIR pytest tests/test_views.py` builds it in DIR once and reuses it afterwards (for
working on a view; the views a test runs may add to it: verifications, reports).

Everything but the PPO runs interrupted by SIGINT is deterministic given the answers; that one stops after
however many evaluations it logged first, which is why tests derive expectations from the records.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ANSWERS = Path(__file__).resolve().parent / "answers"

SUITE = """
name = "tiny"
tasks = ["gymnasium/CartPole-v1"]
seeds = [0]

[[methods]]
name = "scripted"
kind = "promptpo"
model = "{model}"
options = { rounds = 1, candidates = 1, episodes = 2 }

[[methods]]
name = "ppo"
kind = "ppo"
options = { steps = 1024, eval-points = 4, eval-episodes = 2 }
"""


@dataclass
class Corpus:
    root: Path
    runs: Path
    benches: Path
    library: Path
    roles: dict[str, Path] = field(default_factory=dict)
    """Role -> run folder (see `build`)."""
    log: list[tuple[list[str], int, float]] = field(default_factory=list)
    """Every command run: argv, exit code, seconds."""
    seconds: float = 0.0

    def save(self) -> None:
        """corpus.json in the root: the roles and the commands, so `load` can reuse a built corpus."""
        (self.root / "corpus.json").write_text(json.dumps({
            "roles": {role: str(path.relative_to(self.root)) for role, path in self.roles.items()},
            "log": self.log, "seconds": self.seconds}, indent=1))

    @classmethod
    def load(cls, root: Path) -> Corpus:
        saved = json.loads((root / "corpus.json").read_text())
        return cls(root, root / "runs", root / "benches", root / "library",
                   {role: root / path for role, path in saved["roles"].items()},
                   [tuple(entry) for entry in saved["log"]], saved["seconds"])

    def env(self) -> dict[str, str]:
        return corpus_env(self.library)

    def __getitem__(self, role: str) -> Path:
        return self.roles[role]


def corpus_env(library: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMPTPO_MODEL"}
    env.update(PROMPTPO_LIBRARY=str(library), COLUMNS="120")
    return env


class Builder:
    def __init__(self, root: Path):
        self.corpus = Corpus(root, root / "runs", root / "benches", root / "library")
        for folder in (self.corpus.runs, self.corpus.benches, self.corpus.library, root / "answers"):
            folder.mkdir(parents=True, exist_ok=True)

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "promptpo", *args], check=False, capture_output=True, text=True,
                              timeout=timeout, env=self.corpus.env(), cwd=self.corpus.root)
        self.corpus.log.append((list(args), proc.returncode, time.monotonic() - start))
        if check and proc.returncode != 0:
            raise RuntimeError(f"corpus: promptpo {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def new_runs(self, before: set[Path], folder: Path | None = None) -> list[Path]:
        folder = folder or self.corpus.runs
        return sorted(p for p in folder.iterdir() if p.is_dir() and p not in before)

    def optimize(self, role: str, env: str, model: str, *options: str) -> Path:
        before = set(self.corpus.runs.iterdir())
        self.cli("optimize", env, "--model", model, "--workers", "1", *options, "--out", str(self.corpus.runs))
        [run] = self.new_runs(before)
        self.corpus.roles[role] = run
        return run

    def interrupted(self, args: list[str], ready, role: str, timeout: float = 240) -> tuple[Path, int]:
        """Start ``promptpo ARGS``, send SIGINT to its process group once ``ready(new_run_folders)`` holds (what
        Ctrl-C sends to a terminal's processes), and wait for it to end."""
        before = set(self.corpus.runs.iterdir())
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "promptpo", *args, "--out", str(self.corpus.runs)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.corpus.env(),
                                cwd=self.corpus.root, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            found = self.new_runs(before)
            if found and ready(found[0]):
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=180)
        self.corpus.log.append((["SIGINT", *args], proc.returncode, time.monotonic() - start))
        [run] = self.new_runs(before)
        self.corpus.roles[role] = run
        return run, proc.returncode

    def answers(self, name: str, *sets: str) -> Path:
        """An answer folder whose answers are the first answer of each of ``sets`` (folders of tests/answers)."""
        folder = self.corpus.root / "answers" / name
        folder.mkdir()
        for i, source in enumerate(sets, 1):
            shutil.copy(ANSWERS / source / "001.md", folder / f"{i:03d}.md")
        return folder

    def copy(self, role: str, source: Path, suffix: str) -> Path:
        """A copy of ``source`` under a run id of its own (as another run of the same settings would have)."""
        target = source.with_name(f"{source.name}-{suffix}")
        shutil.copytree(source, target)
        for name, key in (("run.json", "id"), ("summary.json", "run_id")):
            path = target / name
            record = json.loads(path.read_text())
            record[key] = target.name
            path.write_text(json.dumps(record, indent=2))
        self.corpus.roles[role] = target
        return target


def curve_points(run: Path) -> int:
    curve = run / "curve.jsonl"
    return len(curve.read_text().splitlines()) if curve.exists() else 0


def in_second_evaluation(run: Path, settle: float = 0.5) -> bool:
    """True a moment after the second answer was recorded (its slow evaluation runs for seconds then)."""
    answer = run / "llm" / "0002.response.md"
    return answer.exists() and time.time() - answer.stat().st_mtime > settle


def build(root: Path) -> Corpus:
    """Write the corpus under ``root`` (about a minute and a half on an idle 2-core machine)."""
    started = time.monotonic()
    b = Builder(root)
    c = b.corpus
    scripted = f"scripted:{ANSWERS / 'cartpole'}"
    small = ("--rounds", "2", "--candidates", "1", "--episodes", "2")

    # CartPole (a return target), one answer set: seeds 0 and 1, and seed 0 again (a repeat, not a seed).
    b.optimize("cartpole-s0", "gymnasium/CartPole-v1", scripted, *small, "--seed", "0")
    b.optimize("cartpole-s0-repeat", "gymnasium/CartPole-v1", scripted, *small, "--seed", "0")
    b.optimize("cartpole-s1", "gymnasium/CartPole-v1", scripted, *small, "--seed", "1")
    # Another answer set on the same env: a different method, though the env and seeds are the same.
    lucky = f"scripted:{ANSWERS / 'cartpole_lucky'}"
    b.optimize("lucky-s0", "gymnasium/CartPole-v1", lucky, "--rounds", "1", "--candidates", "1", "--episodes", "4",
               "--seed", "0")
    b.optimize("lucky-s1", "gymnasium/CartPole-v1", lucky, "--rounds", "1", "--candidates", "1", "--episodes", "4",
               "--seed", "1")
    # The offline proposer (no LLM calls) on CartPole and on Meta-World reach (a success target: seed 7's r00c1
    # has a higher return than r00c5, the first sample that succeeds, and r00c6-r00c8 are not evaluated).
    b.optimize("offline-cartpole", "gymnasium/CartPole-v1", "offline", "--rounds", "1", "--episodes", "2",
               "--max-env-steps", "4000")
    b.optimize("offline-reach", "metaworld/reach", "offline", "--rounds", "1", "--episodes", "2",
               "--max-env-steps", "9000", "--seed", "7")
    # Pick-place: the first answer leaves the gripper open, fails its first stage and is stopped by the
    # cascade; the second succeeds. No PPO runs on this env (the other envs' PPO must not matter).
    b.optimize("pick-place", "metaworld/pick-place", f"scripted:{ANSWERS / 'pick_place'}", "--rounds", "2",
               "--candidates", "1", "--episodes", "3")
    # Only the answer the cascade stops: no candidate scored in full.
    b.optimize("pick-place-stopped", "metaworld/pick-place", f"scripted:{b.answers('open_gripper', 'pick_place')}",
               "--rounds", "1", "--candidates", "1", "--episodes", "3")
    # The answers run out in round 2: a call sent and never answered.
    b.optimize("answers-ran-out", "gymnasium/CartPole-v1", f"scripted:{ANSWERS / 'cartpole_flat'}", *small)
    # MiniGrid, one answer.
    b.optimize("doorkey", "minigrid/DoorKey-5x5", f"scripted:{ANSWERS / 'doorkey'}", "--rounds", "1",
               "--candidates", "1", "--episodes", "2")

    # PPO on CartPole: two whole seeds, and seed 2 interrupted by Ctrl-C after its first evaluations.
    before = set(c.runs.iterdir())
    b.cli("baseline", "ppo", "gymnasium/CartPole-v1", "--steps", "1024", "--seeds", "2", "--eval-points", "4",
          "--eval-episodes", "2", "--workers", "1", "--out", str(c.runs))
    for run in b.new_runs(before):
        c.roles[f"ppo-s{json.loads((run / 'run.json').read_text())['seed']}"] = run
    b.interrupted(["baseline", "ppo", "gymnasium/CartPole-v1", "--steps", "200000", "--seeds", "1",
                   "--first-seed", "2", "--eval-every", "256", "--eval-episodes", "1", "--workers", "1"],
                  lambda run: curve_points(run) >= 2, "ppo-interrupted")

    # A run interrupted by Ctrl-C in its second round (a slow policy), then resumed to its end.
    answers = b.answers("flat_then_slow", "cartpole_flat", "cartpole_slow")
    run, _ = b.interrupted(["optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", *small,
                            "--workers", "1"],
                           lambda run: in_second_evaluation(run), "resumed")
    b.cli("resume", run.name, "--out", str(c.runs))

    # What a crash leaves: summary.json half-written, and the last line of events.jsonl cut short.
    corrupt = b.copy("corrupt-summary", c["resumed"], "corrupt")
    (corrupt / "summary.json").write_text('{"run_id": "' + corrupt.name + '", "status": "comp')
    cut = b.copy("cut-events", c["pick-place"], "cut")
    events = (cut / "events.jsonl").read_bytes()
    last = events.rstrip(b"\n").rfind(b"\n") + 1
    (cut / "events.jsonl").write_bytes(events[:last + (len(events) - last) // 2])

    # A bench suite: OUT/SUITE/method/task/seed-N/RUN, a scripted promptpo method and PPO.
    suite = root / "tiny.toml"
    suite.write_text(SUITE)
    b.cli("bench", str(suite), "--model", scripted, "--out", str(c.benches), check=False)
    for run in sorted(c.benches.glob("tiny/*/*/seed-*/*/run.json")):
        c.roles[f"bench-{run.parent.parent.parent.parent.name}"] = run.parent

    c.seconds = time.monotonic() - started
    c.save()
    return c


def build_or_load(root: Path) -> Corpus:
    """The corpus under ``root``: the one built there before (corpus.json), else a new one."""
    return Corpus.load(root) if (root / "corpus.json").exists() else build(root)


if __name__ == "__main__":  # python tests/corpus.py DIR: build a corpus to look at
    target = Path(sys.argv[1])
    built = build(target)
    for role, path in built.roles.items():
        print(f"{role:20} {path.relative_to(target)}")
    for args, code, seconds in built.log:
        print(f"{code:3} {seconds:6.1f}s promptpo {' '.join(args)[:100]}")
    print(f"built in {built.seconds:.0f} s")
