"""Answers that attack the host rather than the sandbox: crashes, corrupt records, terminal
injection, stalls, amplification and leaks between candidates — on both sandbox backends.

Every case is the first answer of a real run (the ``attack`` fixture: the honest answer after it
must still win, nothing outside the run folder changes, no secret leaks, nothing is left behind,
the next candidate starts clean). On top, ``hostile`` checks what the host promises about
model-written text: the attacker's candidate is recorded with a non-ok outcome, the run folder
opens in show, audit, report and compare, nothing printed carries a control sequence, and
``resume`` of the run (marked interrupted after the attack) completes.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

PROTOCOL = '''
import os, struct


def _protocol_out():
    """The worker's reply channel: the write end it keeps apart from stderr."""
    err = os.fstat(2)
    for fd in range(3, 64):
        try:
            st = os.fstat(fd)
            with open(f"/proc/self/fdinfo/{fd}") as handle:
                flags = int(handle.read().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError, ValueError):
            continue
        if flags & 3 and (st.st_ino, st.st_dev) != (err.st_ino, err.st_dev):
            return fd


def reply(header: bytes, payload: bytes = b""):
    data = memoryview(struct.pack("!II", len(header), len(payload)) + header + payload)
    fd = _protocol_out()
    while data:
        data = data[os.write(fd, data):]
    import time
    time.sleep(30)
'''


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def frame_policy(header: str, payload: str = 'b""') -> str:
    return PROTOCOL + code(f"""
        def act(obs):
            reply({header}, {payload})
            return 0
    """)


@pytest.fixture
def hostile(attack):
    def run(answer: str, raw: bool = False, **limits):
        started = time.monotonic()
        outcome = attack(answer, raw=raw, **limits)
        elapsed = time.monotonic() - started
        assert outcome.outcome != "ok", outcome.first
        assert outcome.second["outcome"] == "ok"
        check_readers(outcome.run_dir)
        check_resume(outcome.run_dir)
        outcome.elapsed = elapsed
        return outcome

    return run


def cli(*args: str) -> str:
    from promptpo.cli import cli as command

    result = CliRunner().invoke(command, list(args), catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)
    return result.output


def check_readers(run: Path) -> None:
    out = run.parent
    texts = [cli("show", run.name, "--out", str(out)), cli("show", run.name, "r00c0", "--out", str(out)),
             cli("audit", run.name, "--out", str(out)), cli("runs", "--out", str(out)),
             cli("diff", run.name, "r00c0", "r00c1", "--out", str(out)),
             cli("report", run.name, "-o", str(run / "report.html"), "--out", str(out)),
             cli("compare", str(run), "--json")]
    for text in texts:
        found = CONTROL.search(text)
        assert found is None, f"a control character {found.group()!r} reached the terminal: {text[max(0, found.start() - 80):found.end() + 40]!r}"
    for line in (run / "events.jsonl").read_text(encoding="utf-8").split("\n"):
        if line:
            json.loads(line)
    assert len((run / "events.jsonl").read_text(encoding="utf-8").splitlines()) == \
        len([line for line in (run / "events.jsonl").read_text(encoding="utf-8").split("\n") if line])


def check_resume(run: Path) -> None:
    """The run as if it had died after the attack: resume replays the hostile record and finishes."""
    summary = json.loads((run / "summary.json").read_text())
    summary["status"] = "interrupted"
    (run / "summary.json").write_text(json.dumps(summary))
    from promptpo.cli import cli as command

    result = CliRunner().invoke(command, ["resume", run.name, "--out", str(run.parent)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "summary.json").read_text())["status"] == "target_reached"


# -- 1. one answer must not end the run --------------------------------------------------------
def test_h01_lone_surrogate_in_an_exception_message(hostile):
    assert hostile('def act(obs):\n    raise ValueError("bad \\ud800 value")').outcome == "crashed"


def test_h02_lone_surrogate_in_the_answer_text(hostile):
    result = hostile("```python\n# note \ud800\ndef act(obs):\n    raise RuntimeError('no')\n```", raw=True)
    assert result.outcome == "crashed" and "\ufffd" in (result.run_dir / "candidates" / "r00c0.py").read_text()


def test_h03_source_that_overflows_the_parser_unary_chain(hostile):
    assert hostile("x = " + "-" * 100_000 + "1\ndef act(obs):\n    return 0").outcome == "unparseable"


def test_h04_source_that_overflows_the_parser_binop_chain(hostile):
    assert hostile("x = " + "0+" * 5000 + "0\ndef act(obs):\n    return 0").outcome == "unparseable"


def test_h05_reply_header_nested_100000_deep(hostile):
    assert hostile(frame_policy('b"[" * 100_000 + b"]" * 100_000')).outcome == "protocol_error"


def test_h06_reply_with_a_5000_digit_integer(hostile):
    assert hostile(frame_policy('b\'{"ok": true, "arrays": [], "x": \' + b"7" * 5000 + b"}"')).outcome == "protocol_error"


def test_h07_array_shape_whose_size_product_overflows(hostile):
    header = 'b\'{"ok": true, "arrays": [{"name": "action", "dtype": "float64", "shape": [4294967296, 4294967296, 0]}]}\''
    assert hostile(frame_policy(header, 'b"\\0" * 8')).outcome == "protocol_error"


def test_h08_error_naming_an_episode_outside_the_batch(hostile):
    header = 'b\'{"ok": false, "error": {"type": "X", "message": "m", "env": 99999}}\''
    assert hostile(frame_policy(header)).outcome == "crashed"


def test_h09_error_with_a_negative_episode_and_odd_types(hostile):
    header = 'b\'{"ok": false, "error": {"type": {"a": [1]}, "message": [1, 2], "traceback": 5, "env": -1}}\''
    assert hostile(frame_policy(header)).outcome == "crashed"


# -- 4. amplification -------------------------------------------------------------------------
def test_h10_a_megabyte_exception_type_name(hostile):
    result = hostile('def act(obs):\n    raise type("E" * 1_000_000, (Exception,), {})("x")')
    assert result.outcome == "crashed"
    assert (result.run_dir / "candidates" / "r00c0.json").stat().st_size < 100_000
    assert (result.run_dir / "llm" / "0002.prompt.md").stat().st_size < 60_000  # the repair prompt


def test_h11_a_ten_megabyte_exception_message(hostile):
    result = hostile('def act(obs):\n    raise ValueError("y" * 10_000_000)')
    assert (result.run_dir / "candidates" / "r00c0.json").stat().st_size < 100_000
    assert (result.run_dir / "llm" / "0002.prompt.md").stat().st_size < 60_000


def test_h12_a_traceback_a_thousand_frames_deep(hostile):
    result = hostile("def f(n):\n    return f(n + 1) if n < 900 else 1 / 0\ndef act(obs):\n    return f(0)")
    assert (result.run_dir / "llm" / "0002.prompt.md").stat().st_size < 60_000


def test_h13_an_exception_whose_str_raises(hostile):
    answer = code("""
        class Weird(Exception):
            def __str__(self):
                raise RuntimeError("no string for you")
        def act(obs):
            raise Weird()
    """)
    assert hostile(answer).outcome == "crashed"


# -- 5. records readers must agree on ---------------------------------------------------------
def test_h14_line_separators_in_an_error_message(hostile):
    assert hostile('def act(obs):\n    raise ValueError("a\\u2028b\\x85c\\u2029d\\r\\ne")').outcome == "crashed"


def test_h15_line_separators_and_nul_in_printed_output(hostile):
    assert hostile('print("x\\u2028y\\x00z\\x85")\ndef act(obs):\n    raise ValueError("stop")').outcome == "crashed"


def test_h16_invalid_utf8_on_stderr(hostile):
    answer = 'import os\nos.write(2, b"\\xff\\xfe\\xc3(")\ndef act(obs):\n    raise ValueError("stop")'
    assert hostile(answer).outcome == "crashed"


# -- 6. the terminal --------------------------------------------------------------------------
def test_h17_osc52_clipboard_write_in_an_error(hostile):
    assert hostile('def act(obs):\n    raise ValueError("\\x1b]52;c;ZXZpbA==\\x07")').outcome == "crashed"


def test_h18_window_title_and_cursor_moves_in_output(hostile):
    answer = 'print("\\x1b]0;pwned\\x07\\x1b[1A\\x1b[2K\\x9b2J")\ndef act(obs):\n    raise ValueError("stop")'
    assert hostile(answer).outcome == "crashed"


def test_h19_escape_sequences_in_the_code_itself(hostile):
    answer = "```python\n# \x1b[2J\x1b]0;title\x07 hidden\ndef act(obs):\n    raise ValueError('stop')\n```"
    assert hostile(answer, raw=True).outcome == "crashed"


def test_h20_rich_markup_in_an_error(hostile):
    assert hostile('def act(obs):\n    raise ValueError("[/] [bold red]x[/bold red] [link=file:///etc]y[/]")').outcome == "crashed"


def test_h21_bidi_overrides_in_an_error(hostile):
    assert hostile('def act(obs):\n    raise ValueError("ok \\u202e}\\u2066 evil \\u2069")').outcome == "crashed"


# -- 7. stalls --------------------------------------------------------------------------------
def test_h22_an_unclosed_fence_line_of_200kb(hostile):
    result = hostile("```" + "a" * 200_000, raw=True)
    assert result.outcome == "no_code" and result.elapsed < 60


def test_h23_an_answer_far_longer_than_any_program(hostile):
    result = hostile("```python\ndef act(obs):\n    return 0\n" + "#" * 500_000 + "\n```", raw=True)
    assert result.outcome == "no_code"


def test_h24_a_valid_reply_padded_with_48_mib(hostile):
    header = 'b\'{"ok": true, "arrays": [{"name": "action", "dtype": "float64", "shape": [1]}, ' \
             '{"name": "junk", "dtype": "uint8", "shape": [50331648]}]}\''
    assert hostile(frame_policy(header, 'b"\\0" * 8 + bytes(50331648)')).outcome == "protocol_error"


def test_h25_tens_of_thousands_of_files_in_scratch(hostile):
    answer = code("""
        import os
        for i in range(30000):
            try:
                open(f"/tmp/f{i}", "w").close()
            except OSError:
                break
        def act(obs):
            raise ValueError("stop")
    """)
    result = hostile(answer)
    assert result.outcome == "crashed" and result.elapsed < 90


# -- 8. candidates must not see each other ----------------------------------------------------
def test_h26_system_v_shared_memory_left_for_the_next_candidate(hostile):
    answer = code("""
        import ctypes
        libc = ctypes.CDLL(None)
        shmid = libc.shmget(0x5eed, 4 << 20, 0o1666)  # IPC_CREAT | 0666
        address = libc.shmat(shmid, None, 0)
        def act(obs):
            raise ValueError("left shared memory behind")
    """)
    result = hostile(answer)
    assert "SYSV 0" in (result.second.get("evaluation") or {}).get("output", ""), result.second


def test_h27_read_only_folders_in_scratch(hostile):
    answer = code("""
        import os
        for top in ("/tmp", "/dev/shm"):
            os.makedirs(f"{top}/keep/inner", exist_ok=True)
            open(f"{top}/keep/inner/note", "w").write("for the next one")
            os.chmod(f"{top}/keep/inner", 0o555)
            os.chmod(f"{top}/keep", 0o000)
        def act(obs):
            raise ValueError("stop")
    """)
    assert hostile(answer).outcome == "crashed"  # the harness checks the next candidate's scratch is empty


def test_h28_a_leftover_process_that_stops_the_cleanup(hostile):
    answer = code("""
        import os, signal, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                me = os.getpid()
                end = time.monotonic() + 60
                while time.monotonic() < end:
                    for entry in os.listdir("/proc"):
                        if entry.isdigit() and int(entry) not in (1, me):
                            try:
                                os.kill(int(entry), signal.SIGSTOP)
                            except OSError:
                                pass
                    time.sleep(0.005)
            os._exit(0)
        time.sleep(0.2)
        def act(obs):
            raise ValueError("stop")
    """)
    result = hostile(answer)
    assert result.elapsed < 120


# -- 9. evaluation must not be told from verification ------------------------------------------
def test_h29_the_worker_rng_does_not_reveal_the_episode_seed(hostile):
    answer = code("""
        import numpy as np, random
        class Policy:
            def reset(self):
                print("DRAW", np.random.get_state()[1][0], random.getrandbits(32))
            def act(self, obs):
                raise ValueError("stop")
    """)
    result = hostile(answer)
    import random

    import numpy as np

    output = (result.first.get("evaluation") or {}).get("output", "")
    seed = result.first["evaluation"]["episodes"][0]["seed"]
    drawn = re.search(r"DRAW (\d+) (\d+)", output)
    assert drawn, output
    np.random.seed(seed % 2**32)
    random.seed(seed)
    assert int(drawn.group(1)) != np.random.get_state()[1][0]
    assert int(drawn.group(2)) != random.getrandbits(32)


def test_h30_the_raw_episode_seed_is_not_on_the_worker_stack(hostile):
    answer = code("""
        import sys
        def act(obs):
            found = []
            frame = sys._getframe()
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    if isinstance(value, int) and value > 1000:
                        found.append(value)
                    if isinstance(value, dict):
                        found += [v for v in value.values() if isinstance(v, int) and v > 1000]
                frame = frame.f_back
            print("INTS", found)
            raise ValueError("stop")
    """)
    result = hostile(answer)
    output = (result.first.get("evaluation") or {}).get("output", "")
    seed = result.first["evaluation"]["episodes"][0]["seed"]
    assert "INTS" in output and str(seed) not in output


# -- 10. the container's /proc names no container ----------------------------------------------
def test_h31_proc_self_cgroup_names_no_container(hostile, backend):
    answer = code("""
        for name in ("/proc/self/cgroup", "/proc/self/mountinfo"):
            try:
                print("PROC", open(name).read())
            except OSError as err:
                print("PROC", err)
        def act(obs):
            raise ValueError("stop")
    """)
    result = hostile(answer)
    output = (result.first.get("evaluation") or {}).get("output", "")
    assert "PROC" in output
    if backend == "docker":  # a private cgroup namespace: the container's id is not in its cgroup paths
        cgroups = output.split("PROC", 2)[1]
        assert re.search(r"[0-9a-f]{64}", cgroups) is None and "docker" not in cgroups, cgroups


def test_h32_an_error_frame_for_the_load_with_hostile_text(hostile):
    answer = PROTOCOL + code("""
        reply(b'{"ok": false, "error": {"type": "LoadError", "message": "\\\\u001b]52;c;eA==\\\\u0007\\\\ud800 [/]"}}')
        def act(obs):
            return 0
    """)
    assert hostile(answer).outcome in ("no_entry_point", "crashed")


# -- 2. a verification always ends with a record ------------------------------------------------
def test_verify_records_a_failure_when_fresh_episodes_get_a_hostile_frame(tmp_path):
    """Honest on the run's two episodes, hostile once more policies are made (verify plays 100)."""
    import promptpo
    from conftest import run_cli

    answer = PROTOCOL + code("""
        class Policy:
            made = 0

            def __init__(self):
                Policy.made += 1

            def act(self, obs):
                if Policy.made > 2:
                    reply(b"[" * 100_000 + b"]" * 100_000)
                x, v, a, w = obs
                return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)
    """)
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"content": f"```python\n{answer}```"}) + "\n")
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "runs", rounds=1,
                               candidates=1, episodes=2, gate=False)
    assert result.status == "target_reached", result.reason
    proc = run_cli("verify", str(result.run_dir), "--episodes", "20")
    assert proc.returncode == 0, proc.stderr
    assert "FAILED" in proc.stdout
    records = [json.loads(p.read_text()) for p in (result.run_dir / "verifications").glob("*.json")]
    assert len(records) == 1 and records[0]["outcome"] == "protocol_error" and records[0]["gap"] is True
    exported = run_cli("export", str(result.run_dir), "-o", str(tmp_path / "p.py"), "--allow-findings")
    assert exported.returncode == 0, exported.stderr
    header = (tmp_path / "p.py").read_text()
    assert "# verified on fresh episodes: FAILED: the candidate did not run cleanly on the fresh episodes (protocol_error)" in header
    assert header.count("FAILED") == 1  # worded once


# -- 3. what is recorded is what was scored ----------------------------------------------------
def test_a_tuned_candidate_is_recorded_exactly_as_evaluated(tmp_path):
    """An answer whose code holds a ``` in a comment (no fences around it): tuning must not cut it."""
    from conftest import ANSWERS, only_run, read_json, run_cli

    program = (ANSWERS / "reach_mistuned" / "001.md").read_text().split("```python\n")[1].split("```")[0]
    program = program.replace("class Policy:", "# answers come in ``` fences; this one does not\nclass Policy:")
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"content": program}) + "\n")
    out = tmp_path / "runs"
    proc = run_cli("optimize", "metaworld/reach", "--model", f"scripted:{answers}", "--rounds", "1",
                   "--candidates", "1", "--tune-constants", "--tune-share", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    tuned = read_json(run / "candidates" / "r00c1.json")
    assert tuned["kind"] == "tuned" and tuned["outcome"] == "ok"
    code_as_recorded = (run / "candidates" / "r00c1.py").read_text()
    parent = (run / "candidates" / "r00c0.py").read_text()
    changed = {c["line"] for c in tuned["tuned_constants"]}
    recorded_lines, parent_lines = code_as_recorded.splitlines(), parent.splitlines()
    assert len(recorded_lines) == len(parent_lines)  # the whole program, not cut at the ```
    assert all(a == b for n, (a, b) in enumerate(zip(recorded_lines, parent_lines), 1) if n not in changed)
    assert (run / "best.py").read_text().endswith(code_as_recorded)


# -- 4. budgets hold against amplification -------------------------------------------------------
def test_max_cost_holds_against_a_hostile_error(tmp_path, monkeypatch):
    """A priced model on a local server that counts tokens as a real one does; the first answer raises an
    exception with a 2 MB type name, whose repair prompt would cost about $1.25 if it were sent whole."""
    import promptpo
    from llm_server import FakeLLMServer, answer
    from security.conftest import HONEST

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789")
    hostile = '```python\ndef act(obs):\n    raise type("E" * 2_000_000, (Exception,), {})("x" * 1_000_000)\n```'
    with FakeLLMServer() as server:
        server.usage_from_text = True
        server.queue(answer(hostile), answer(HONEST))
        result = promptpo.optimize("gymnasium/CartPole-v1", "openai:gpt-4o", api_base=server.url + "/v1",
                                   out=tmp_path / "runs", rounds=2, candidates=1, episodes=1, max_repairs=1,
                                   max_cost=0.25, max_tokens=2000, gate=False)
        sent = [len(json.dumps(r["body"].get("messages", []))) for r in server.requests]
    summary = result.summary
    assert len(sent) == 2 and max(sent) < 80_000, sent  # the repair prompt was built from capped text
    assert summary["cost_usd"] is not None and 0 < summary["cost_usd"] <= 0.25
    assert result.status == "target_reached"


# -- 6. the live display ------------------------------------------------------------------------
def test_the_live_display_shows_hostile_text_as_text():
    import io

    from rich.console import Console

    from promptpo.views.display import RunDisplay
    from promptpo.engine.state import RunState

    for terminal in (True, False):
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=terminal, width=200)
        display = RunDisplay(console, "gymnasium/CartPole-v1", "scripted", 2, 1, False)
        state = RunState()
        state.last = "r00c0: crashed — \x1b]52;c;ZXZpbA==\x07 \x1b]0;title\x07 \x1b[1A\x1b[2K [/] [bold]x"
        with display:
            display("candidate", state)
        text = buffer.getvalue()
        # (on a terminal rich itself moves the cursor to redraw; the hostile moves must not be among them)
        for sequence in ("\x1b]52", "\x1b]0;", "\x07") + (() if terminal else ("\x1b[1A", "\x1b[2K")):
            assert sequence not in text, (terminal, sequence)
        assert "\\x1b[1A\\x1b[2K [/] [bold]x" in text and "\\x1b]52" in text  # shown literally, as escapes
