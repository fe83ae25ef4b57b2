"""A candidate that tries to reach the candidates after it, or the later stages of its own evaluation.

Each attacker leaves an agent behind (double fork, new session) that, for as long as it lives, goes after every
process it can see: ``ptrace`` attach, ``SIGSTOP``, reading their fds (where a one-time token or socket path
would be) and their argv, writing into their memory, and connecting to every frame socket it can find. If any
later worker were visible to it, that worker would hang or fail and its score would change. The honest program
after it must score exactly what it scores alone; a weak program with an agent must score exactly what the weak
program scores alone, in its cascade's second stage and in ``verify`` too; and with parallel lanes as well.
On both backends. The sandbox user also never is host root: no uid map to 0 (process backend), no uid 0
(Docker), and ``/proc/sys/kernel/core_pattern`` cannot be opened for writing (opened only, never written).
"""

from __future__ import annotations

import json
import textwrap

import promptpo
from promptpo.records import RunFolder
from promptpo.policy.verify import verify

AGENT = '''
import ctypes, os, signal, socket, time

def _agent(seconds):
    worker = os.getpid()
    if os.fork():
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    libc = ctypes.CDLL(None, use_errno=True)
    me, end = os.getpid(), time.time() + seconds
    while time.time() < end:
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in (me, worker, 1):
                continue
            pid = int(entry)
            libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
            libc.ptrace(0x4206, pid, 0, 0)  # PTRACE_SEIZE
            for path in (f"/proc/{pid}/fd/0", f"/proc/{pid}/fd/3", f"/proc/{pid}/cmdline", f"/proc/{pid}/environ"):
                try:
                    with open(path, "rb") as handle:
                        handle.read(64)
                except OSError:
                    pass
            try:
                with open(f"/proc/{pid}/mem", "r+b") as handle:
                    handle.write(b"\\0")
            except OSError:
                pass
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
        for folder in ("/sandbox/ipc", "/tmp"):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(0.05)
                    s.connect(os.path.join(folder, name))
                    s.sendall(b"\\x00" * 64)
                    s.close()
                except OSError:
                    pass
        time.sleep(0.005)
    os._exit(0)
'''
WEAK = "\n\ndef act(obs):\n    return int(obs[0] > 0)\n"
"""A poor CartPole policy: pushes toward the side the cart is on (episodes of about 9 to 60 steps)."""


def test_an_agent_left_behind_cannot_touch_the_next_candidate(attack):
    result = attack(AGENT + "\n_agent(25)" + WEAK)
    assert result.second["outcome"] == "ok" and result.second["score"]["mean_return"] == 500.0


def test_an_agent_started_by_every_act_call_cannot_touch_the_next_candidate(attack):
    code = AGENT + textwrap.dedent('''
        def act(obs):
            _agent(20)
            return int(obs[0] > 0)
        ''')
    result = attack(code)
    assert result.second["outcome"] == "ok" and result.second["score"]["mean_return"] == 500.0


def test_an_agent_that_stops_its_own_worker_still_cannot_reach_the_next(attack):
    code = AGENT.replace("(me, worker, 1)", "(me, 1)") + "\n_agent(25)" + WEAK
    result = attack(code)  # it may stop its own worker before or after its episode ends: either is its own business
    assert result.second["outcome"] == "ok" and result.second["score"]["mean_return"] == 500.0


def _run(tmp_path, backend, answers: list[str], name: str, **options):
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"content": f"```python\n{a}\n```"}) + "\n" for a in answers))
    settings = dict(rounds=1, candidates=len(answers), episodes=6, cascade=2, gate=False, act_timeout_s=1.0,
                    load_timeout_s=10.0, candidate_wall_s=60.0, candidate_cpu_s=30, seed=3)
    settings.update(options)
    return promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{path}", out=tmp_path / name, sandbox=backend,
                             **settings)


def _episodes(result) -> dict[str, list[float]]:
    records = {p.stem: json.loads(p.read_text()) for p in (result.run_dir / "candidates").glob("*.json")}
    return {k: [e["episode_return"] for e in r["evaluation"]["episodes"]] for k, r in sorted(records.items())}


def test_the_second_stage_and_verify_score_what_the_program_alone_earns(tmp_path, backend):
    """The weak program with an agent plays its cascade's second stage and verify's batches in workers the agent
    cannot see: its returns equal the weak program's alone, episode for episode."""
    alone = _episodes(_run(tmp_path, backend, [WEAK.strip()], "alone"))["r00c0"]
    attacked = _run(tmp_path, backend, [AGENT + "\n_agent(30)" + WEAK], "attacked")
    assert len(alone) == 6 and _episodes(attacked)["r00c0"] == alone
    run = RunFolder(attacked.run_dir)
    reference = verify(RunFolder(_run(tmp_path, backend, [WEAK.strip()], "reference").run_dir), "r00c0", 12, backend)
    checked = verify(run, "r00c0", 12, backend)
    assert checked.outcome == "ok" and len(checked.episodes) == 12
    assert [e["return"] for e in checked.episodes] == [e["return"] for e in reference.episodes]


def test_parallel_lanes_keep_the_agent_away_from_the_candidates_beside_it(tmp_path, backend):
    honest = "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)\n"
    result = _run(tmp_path, backend, [AGENT + "\n_agent(30)" + WEAK, honest, honest, honest], "lanes", workers=2,
                  cascade=0, episodes=3, target=1000)  # out of reach: a run stops at its target, and every lane must run
    episodes = _episodes(result)
    assert episodes["r00c1"] == episodes["r00c2"] == episodes["r00c3"] == [500.0, 500.0, 500.0]


PRIVILEGE = '''
import os

def _report():
    with open("/proc/self/uid_map") as handle:
        rows = [line.split() for line in handle.read().splitlines()]
    try:
        open("/proc/sys/kernel/core_pattern", "r+").close()
        core = "OPENED"
    except OSError as err:
        core = type(err).__name__
    print("PRIVILEGE", os.getuid(), os.geteuid(), [row[1] for row in rows if int(row[2]) > 0], core)

_report()
''' + WEAK


def test_the_sandbox_user_is_never_host_root(attack, backend):
    """With promptpo running as root (as here and in CI), the candidate's uid is not 0, no uid map row of its user
    namespace maps to host uid 0 (process backend: bubblewrap's own namespace; Docker shares the host's
    namespace and runs the candidate as uid 65534), and the kernel's core_pattern cannot be opened for writing.
    A candidate sees only its namespace's parent, so the host also reads the worker's real uid from /proc."""
    from promptpo.isolation import make_sandbox
    from promptpo.isolation.check import identity

    line = next(l for l in attack(PRIVILEGE).output.splitlines() if l.startswith("PRIVILEGE"))
    _, uid, euid, outside, core = line.split(" ", 4)
    assert uid != "0" and euid != "0" and core != "OPENED"
    if backend == "process":
        assert "'0'" not in outside, line
    with make_sandbox(backend) as sandbox:
        safe, seen = identity(sandbox)
    assert safe and "host uid 0" not in seen and "host uid unknown" not in seen, seen


SEEN = '''
import os

def _seen():
    found = []
    for entry in sorted(os.listdir("/proc")):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    found.append(handle.read().replace(b"\\0", b" ").decode(errors="replace").strip())
            except OSError:
                pass
    print("SEEN", found)

_seen()
''' + WEAK


def test_a_candidate_sees_no_process_but_its_own_worker_and_an_init(attack):
    """Nothing a candidate could attach to, stop or read: no keeper, no reaper, no other worker, no host process."""
    line = next(l for l in attack(SEEN).output.splitlines() if l.startswith("SEEN"))
    seen = eval(line[len("SEEN "):])  # noqa: S307 - a list of strings the test's own candidate printed
    others = [cmd for cmd in seen if "worker.py" not in cmd]
    assert len(others) <= 1 and all(cmd.split(" ")[0].endswith(("docker-init", "bwrap")) for cmd in others), seen


NAMESPACES = '''
import ctypes, os

def _bomb():
    libc = ctypes.CDLL(None, use_errno=True)
    made = 0
    for flag in (0x10000000, 0x20000, 0x40000000, 0x08000000, 0x04000000, 0x20000000, 0x02000000):
        for _ in range(200):  # each one made would count against the sandbox user's quota, shared by every sandbox
            if libc.unshare(flag) == 0:
                made += 1
    print("NAMESPACES", made)

_bomb()
''' + WEAK


def test_a_candidate_can_make_no_namespace_of_its_own(attack):
    """A namespace a candidate made (and kept, by a process or a mount) would count against the kernel quota of
    the sandbox user, which every later sandbox on the machine shares: at the quota, later workers cannot start."""
    result = attack(NAMESPACES)
    line = next(l for l in result.output.splitlines() if l.startswith("NAMESPACES"))
    assert line == "NAMESPACES 0", line


def test_a_policy_cannot_draw_its_episodes_seeds(tmp_path, backend):
    """Seeds drawn from the run seed alone could be drawn by the policy too: the red team's Blackjack policy
    recognised every episode from its first observation and played the deck it knew. With the run's secret
    (promptpo.seeds) no stream it can draw matches."""
    from pathlib import Path

    import numpy as np

    from promptpo.envs import load_spec

    cheat = (Path(__file__).parent / "programs" / "blackjack_cheat.py").read_text()
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"content": f"```python\n{cheat}\n```"}) + "\n")
    def run(**options):
        result = promptpo.optimize("gymnasium/Blackjack-v1", f"scripted:{answers}", out=tmp_path / "runs",
                                   sandbox=backend, rounds=1, candidates=1, episodes=30, cascade=0, seed=0, gate=False,
                                   add_to_library=False, **options)
        [record] = [json.loads(p.read_text()) for p in (result.run_dir / "candidates").glob("*.json")]
        assert record["outcome"] == "ok"
        return result, record["evaluation"]["output"]

    _, public_run = run(episode_secret=None)  # as runs were drawn before the secret: the attack works
    assert "RECOGNISED" in public_run
    result, output = run()
    assert "RECOGNISED" not in output
    meta = json.loads((result.run_dir / "run.json").read_text())
    public = set(np.random.SeedSequence(0).generate_state(30, dtype=np.uint32).tolist())
    assert meta["config"]["episode_secret"] and not public & {e["seed"] for e in meta["episodes"]}
    spec = load_spec("gymnasium/Blackjack-v1")
    assert [e.seed for e in spec.episodes(0, 30)] == sorted(public, key=list(
        np.random.SeedSequence(0).generate_state(30, dtype=np.uint32)).index)  # the old, public draw, for old runs
