"""A hostile base program during fine-tuning gets nothing more than it gets in evaluation.

The base keeps running in its sandbox worker while the learner trains on the host (promptpo.finetune): every
variant below is the base program of a real fine-tuning on both backends, with the gate out of the way (its code is
given as a run folder could hold it). Each must leave the host untouched (no file, no connection, no secret in the
run folder), end the run as 'completed' or 'failed' with a reason (never a traceback), and never load the program
into this process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from security.conftest import SECRET
from promptpo.finetune.config import Base, FinetuneConfig
from promptpo.finetune.train import train

MARKER = ROOT / "pwned-by-finetune-base"
ATTACKS = {
    "writes_a_host_file_at_import_and_in_act": f"""
        import numpy as np
        for path in ({str(MARKER)!r}, "/root/pwned-by-finetune-base"):
            try:
                open(path, "w").write("pwned")
            except Exception:
                pass

        def act(obs):
            try:
                open({str(MARKER)!r}, "a").write("again")
            except Exception:
                pass
            return np.zeros(1)
    """,
    "spawns_a_shell": f"""
        import subprocess
        import numpy as np
        try:
            subprocess.run(["/bin/sh", "-c", "echo pwned > {MARKER}"], timeout=2)
        except Exception:
            pass

        def act(obs):
            return np.zeros(1)
    """,
    "connects_to_the_host": """
        import socket
        import numpy as np

        def act(obs):
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=0.2)
            except Exception:
                pass
            return np.zeros(1)
    """,
    "reads_secrets_and_raises_them": """
        import os
        import numpy as np

        def act(obs):
            found = [os.environ.get("OPENAI_API_KEY", "")]
            for path in (os.path.expanduser("~/.ssh/id_rsa"), "HOME/.ssh/id_rsa", "/proc/1/environ"):
                try:
                    found.append(open(path).read())
                except Exception:
                    pass
            if any("sk-" in text for text in found):
                raise RuntimeError("leaked " + " ".join(found))
            return np.zeros(1)
    """,
    "hangs_after_a_while": """
        import numpy as np
        calls = [0]

        def act(obs):
            calls[0] += 1
            while calls[0] > 150:
                pass
            return np.zeros(1)
    """,
    "kills_its_worker": """
        import os
        import numpy as np
        calls = [0]

        def act(obs):
            calls[0] += 1
            if calls[0] > 150:
                os._exit(3)
            return np.zeros(1)
    """,
    "returns_nan": """
        import numpy as np
        calls = [0]

        def act(obs):
            calls[0] += 1
            return np.array([np.nan]) if calls[0] > 150 else np.zeros(1)
    """,
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_hostile_base_gets_nothing_more_during_finetuning(name, backend, tmp_path, monkeypatch, host_listener):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(f"-----BEGIN KEY----- {SECRET}")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    import promptpo.policy.loader as loader

    def never(*args, **kwargs):
        raise AssertionError("the base program was loaded into the host process")

    monkeypatch.setattr(loader, "_import", never)
    monkeypatch.setattr(loader, "LOADED_LIMITS", dataclasses.replace(loader.LOADED_LIMITS, guard=False))  # the sandbox alone
    code = textwrap.dedent(ATTACKS[name]).replace("PORT", str(host_listener.getsockname()[1])) \
        .replace("HOME", str(home))
    config = FinetuneConfig("gymnasium/Pendulum-v1", 400, base=Base("r", "r00c0", code, 100, None), warmup=100,
                            critic_steps=100, eval_points=1, eval_episodes=1, judge_episodes=1, sandbox=backend,
                            out=tmp_path / "runs", options={"policy_kwargs": {"net_arch": [16]}})
    folder = train(config, 0)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] in {"completed", "failed"}
    if summary["status"] == "failed":
        assert summary["reason"].startswith("the base program failed") and "Traceback" not in summary["reason"]
    if name in ("hangs_after_a_while", "kills_its_worker", "returns_nan"):
        assert summary["status"] == "failed"
    assert not MARKER.exists() and not Path("/root/pwned-by-finetune-base").exists()
    with pytest.raises(OSError):  # nothing reached the host's loopback
        host_listener.accept()
    text = "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file() and p.suffix != ".zip"
                     and p.suffix != ".pkl" and p.suffix != ".pt")
    assert SECRET not in text


@pytest.mark.parametrize("name", ["connects_to_the_host", "spawns_a_shell", "reads_secrets_and_raises_them"])
def test_with_the_import_guard_on_such_a_base_is_refused_in_one_line(name, tmp_path, monkeypatch):
    """As `promptpo finetune` runs it (the worker's import guard on): refused before any folder is made."""
    from promptpo.errors import ConfigError

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    code = textwrap.dedent(ATTACKS[name]).replace("PORT", "9")
    config = FinetuneConfig("gymnasium/Pendulum-v1", 400, base=Base("r", "r00c0", code, 100, None),
                            out=tmp_path / "runs")
    with pytest.raises(ConfigError) as refused:
        train(config, 0)
    assert "does not load in the process sandbox" in str(refused.value) and "is not allowed" in str(refused.value)
    assert SECRET not in str(refused.value)
    assert not list((tmp_path / "runs").glob("*"))


# ------------------------------------------------------------------------------------------------------------------
# Red team (branch redteam-finetune). Threats in scope:
# - the base program is hostile (it was written by a model): it must gain nothing beyond what a run's evaluation
#   gives it, and it must not decide what the run folder records as the result;
# - a run folder is hostile (copied from someone else: `verify` exists so a skeptic can re-run another's folder):
#   `verify`, `play`, `promptpo.load_policy`, `show`, `compare`, `report` must not execute anything it holds on the
#   host, and bad contents give one clear line and a non-zero exit. `resume` of a copied folder is in scope too (the
#   folder says nothing about who wrote it), but secondary: resuming is meant for one's own interrupted runs.
# Out of scope: the user's own command-line options (they run with the user's rights anyway).
# ------------------------------------------------------------------------------------------------------------------

HONEST_BASE = """
import numpy as np

def act(obs):
    cos, sin, speed = obs
    return np.array([float(np.clip(-2.0 * np.arctan2(sin, cos) - 0.5 * speed, -2, 2))])
"""


def tiny(code: str, backend: str, out: Path, **given) -> FinetuneConfig:
    settings = dict(warmup=100, critic_steps=100, eval_points=1, eval_episodes=1, judge_episodes=1)
    settings.update(given)
    return FinetuneConfig("gymnasium/Pendulum-v1", settings.pop("steps", 400), base=Base("r", "r00c0", code, 100, None),
                          sandbox=backend, out=out, options={"policy_kwargs": {"net_arch": [16]}}, **settings)


@pytest.fixture
def unguarded(monkeypatch):
    """As the attacks above: the sandbox alone (the import guard off), the program never imported here."""
    import promptpo.policy.loader as loader

    def never(*args, **kwargs):
        raise AssertionError("the base program was loaded into the host process")

    monkeypatch.setattr(loader, "_import", never)
    monkeypatch.setattr(loader, "LOADED_LIMITS", dataclasses.replace(loader.LOADED_LIMITS, guard=False))


# -- 1. actions crafted to break the host side -------------------------------------------------------------------
ODD_ACTIONS = {"wrong_shape": "np.zeros(5)", "nested_shape": "np.zeros((1, 1))", "empty": "np.zeros(0)",
               "huge": "np.zeros(10**6)", "object_array": "np.array([{}], dtype=object)",
               "float_max": "np.array([np.finfo(np.float64).max])", "minus_inf": "np.array([-np.inf])",
               "string": "'nan'", "complex": "np.array([1e308 + 1e308j])", "none": "None",
               "subclass_lying_about_shape": "type('A', (np.ndarray,), {'shape': (1,)})((5,))"}


@pytest.mark.parametrize("name", sorted(ODD_ACTIONS))
def test_an_odd_action_is_refused_in_the_sandbox_or_kept_finite(name, backend, tmp_path, unguarded):
    code = f"import numpy as np\n\ndef act(obs):\n    return {ODD_ACTIONS[name]}\n"
    folder = train(tiny(code, backend, tmp_path / "runs", steps=200, warmup=50, critic_steps=50), 0)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] in {"completed", "failed"}, summary
    if summary["status"] == "failed":
        assert summary["reason"].startswith("the base program failed: act() "), summary["reason"]
        assert "Traceback" not in summary["reason"]
    else:  # coerced as a run coerces it: every recorded number finite
        curve = [json.loads(line) for line in (folder / "curve.jsonl").read_text().splitlines()]
        assert all(np.isfinite(p["mean_return"]) for p in curve) and np.isfinite(summary["judged"]["base_return"])


# -- 2. a base that behaves differently in the judgement decides the result ---------------------------------------
# The judgement plays the best fine-tuned policy, then the base alone, on the same fresh episodes and in the same
# sandbox worker (the evaluations before it too). A stateful base can tell the two plays apart and so choose the
# verdict: here it plays well whenever the learner is on and badly when it is judged alone (and in the first
# evaluation, so the curve 'rises' and best_at > 0). The learner contributes next to nothing (400 steps, net [16]).
STATEFUL = {
    "remembers_first_observations": """
        import numpy as np
        seen, made = {}, [0]

        def good(obs):  # an energy swing-up and a PD catch: about -150 a episode, where a constant 2.0 spins at -1,500
            c, s, w = obs
            if c > 0.85:
                return np.clip([-(12 * np.arctan2(s, c) + 2.5 * w)], -2, 2)
            return np.array([2.0 * np.sign(w * (5 - w * w / 6 - 5 * c)) if abs(w) > 1e-3 else 2.0])

        class Policy:
            def __init__(self):
                made[0] += 1
                self.bad = None

            def act(self, obs):
                if self.bad is None:  # evaluations replay the episodes of the first; the judgement's base-alone
                    key = tuple(np.round(np.asarray(obs, float), 5))  # play replays episodes first seen later
                    first = seen.setdefault(key, made[0])
                    self.bad = made[0] <= 2 or (first != made[0] and first > 2)
                return np.array([2.0]) if self.bad else good(obs)
    """,
    "counts_its_episodes": """
        import numpy as np
        made = [0]

        def good(obs):  # an energy swing-up and a PD catch: about -150 a episode, where a constant 2.0 spins at -1,500
            c, s, w = obs
            if c > 0.85:
                return np.clip([-(12 * np.arctan2(s, c) + 2.5 * w)], -2, 2)
            return np.array([2.0 * np.sign(w * (5 - w * w / 6 - 5 * c)) if abs(w) > 1e-3 else 2.0])

        class Policy:
            def __init__(self):
                made[0] += 1
                self.bad = made[0] <= 2 or made[0] >= 7  # load, eval@0 | eval@200, eval@400, judged x2 | base x2

            def act(self, obs):
                return np.array([2.0]) if self.bad else good(obs)
    """,
}


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_a_stateful_base_cannot_choose_the_judgement(name, backend, tmp_path, unguarded):
    config = tiny(textwrap.dedent(STATEFUL[name]), backend, tmp_path / "runs", eval_points=2, judge_episodes=2)
    folder = train(config, 0)
    summary = json.loads((folder / "summary.json").read_text())
    judged = summary["judged"]
    assert summary["status"] == "completed", summary
    gain = judged["finetuned_return"] - judged["base_return"]
    # Evidence when it breaks: result 'finetuned' with a gain of several hundred from 400 steps of a [16] net.
    assert not (judged["result"] == "finetuned" and gain > 200), judged


# -- 3. a planted run folder ---------------------------------------------------------------------------------------
PLANTED = Path(tempfile.gettempdir()) / f"pwned-by-planted-finetune-folder-{os.getpid()}"
"""What a planted payload writes when unpickled on the host; the control case writes it on purpose, so it is kept
out of the repo (other tests check that nothing there changed) and is this process's own."""


@pytest.fixture(scope="module")
def honest_folder(tmp_path_factory) -> Path:
    """A real, finished fine-tuning run folder (process backend) to copy and tamper with."""
    out = tmp_path_factory.mktemp("honest") / "runs"
    return train(tiny(textwrap.dedent(HONEST_BASE), "process", out, steps=200, warmup=50, critic_steps=50), 0)


@pytest.fixture
def planted(honest_folder, tmp_path) -> Path:
    import shutil

    PLANTED.unlink(missing_ok=True)
    copy = tmp_path / "runs" / honest_folder.name
    shutil.copytree(honest_folder, copy)
    yield copy
    PLANTED.unlink(missing_ok=True)


def cli(*args: str) -> tuple[int, str]:
    """``promptpo ARGS`` in this process: its exit code and everything it printed."""
    import contextlib
    import io

    from promptpo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue() + err.getvalue()


def payload() -> str:
    """A cloudpickle'd object that writes PLANTED when it is unpickled (base64, as SB3 stores a ':serialized:')."""
    import base64
    import pickle

    class Boom:
        def __reduce__(self):
            return exec, (f"open({str(PLANTED)!r}, 'w').write('pwned')",)

    return base64.b64encode(pickle.dumps(Boom())).decode()


def plant_in_zip(path: Path) -> None:
    """SB3's save file with one more 'data' entry serialized with cloudpickle (every such entry is unpickled on load)."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    data = json.loads(members["data"])
    data["observation_space"] = {":type:": "<class 'gymnasium.spaces.box.Box'>", ":serialized:": payload()}
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)


def keep_finetuned(folder: Path) -> None:
    summary = json.loads((folder / "summary.json").read_text())
    summary["judged"] = dict(summary["judged"] or {}, result="finetuned")
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize("how", ["load_policy", "verify", "play", "control"])
def test_a_planted_model_zip_runs_no_code_on_the_host(how, planted):
    """A folder someone hands you: SB3's own `load` unpickles model.zip's data, so a planted payload would run on
    your machine; verify, play and load_policy read only its weights. The control shows the plant is real."""
    plant_in_zip(planted / "model.zip")
    keep_finetuned(planted)
    if how == "control":
        import subprocess
        import sys

        control = subprocess.run([sys.executable, "-c", "from stable_baselines3 import TD3; "
                                  f"TD3.load({str(planted / 'model.zip')!r})"], capture_output=True, text=True,
                                 timeout=120)
        assert PLANTED.exists(), control.stderr[-1000:]  # SB3's own load runs it
        return
    if how == "load_policy":
        import promptpo

        try:
            promptpo.load_policy(planted).close()
        except Exception:  # noqa: BLE001 - refusing it is fine; running it is not
            pass
    else:
        code, said = cli(how, planted.name, "--out", str(planted.parent), "--episodes", "1")
        assert code == 0, said  # the weights are the run's own: only the pickled extras were planted
    assert not PLANTED.exists(), "the planted model.zip ran code on the host"


def mark_unfinished(folder: Path) -> None:
    for name in ("summary.json", "run.json"):
        data = json.loads((folder / name).read_text())
        data["status"] = "running"
        (folder / name).write_text(json.dumps(data))


@pytest.mark.parametrize("what", ["checkpoint.zip", "replay.pkl", "unsigned"])
def test_resuming_a_planted_folder_runs_no_code_on_the_host(what, planted):
    """A checkpoint is SB3's pickles: resume takes it only when its HMAC under this user's secret matches, so a
    folder handed over (or changed since, or never signed) is refused in one line before anything is unpickled."""
    mark_unfinished(planted)
    if what == "checkpoint.zip":
        plant_in_zip(planted / "checkpoint.zip")
    elif what == "replay.pkl":
        import base64

        (planted / "replay.pkl").write_bytes(base64.b64decode(payload()))
    else:
        state = json.loads((planted / "finetune_state.json").read_text())
        state.pop("signatures")
        (planted / "finetune_state.json").write_text(json.dumps(state))
    code, said = cli("resume", planted.name, "--out", str(planted.parent))
    assert code != 0 and "was not written by this user's promptpo" in said and "Traceback" not in said, said
    assert not PLANTED.exists(), f"the planted {what} ran code on the host"


TAMPERED = {  # what a copied folder may hold instead of what promptpo wrote
    "method_with_terminal_escapes": ("run.json", lambda d: d.update(method="\x1b]0;pwned\x07\x1b[2J\u202eevil")),
    "judged_return_not_a_number": ("summary.json", lambda d: d["judged"].update(finetuned_return="x", result="finetuned")),
    "judged_not_a_dict": ("summary.json", lambda d: d.update(judged="oops")),
    "seed_not_a_number": ("run.json", lambda d: d.update(seed="x")),
    "base_env_steps_not_a_number": ("run.json", lambda d: d["config"]["base"].update(env_steps="x")),
    "steps_a_string": ("run.json", lambda d: d["config"].update(steps="400")),
    "unknown_env": ("run.json", lambda d: d["config"].update(env="gymnasium/Nope-v0")),
    "base_py_changed": ("base.py", None),
    "method_with_markup": ("run.json", lambda d: d.update(method="<script>alert(1)</script>[bold]x[/bold]")),
    "curve_return_not_a_number": ("curve.jsonl", lambda d: d.update(mean_return="x", env_steps=None)),
    "curve_env_steps_no_float_holds": ("curve.jsonl", lambda d: d.update(env_steps=10 ** 400)),
    "settings_with_escapes_and_markup": ("run.json", lambda d: d["config"].update(
        penalty="\x1b[2J\u202e[bold]x", options={"\x1b]0;pwned\x07": "<script>alert(1)</script>"})),
    "settings_no_float_holds_or_nested": ("run.json", lambda d: d["config"].update(
        residual_scale=10 ** 400, ramp=float("nan"), options={"a": [[[[{"b": [1e308] * 3}]]]] * 50})),
}




@pytest.mark.parametrize("command", ["verify", "play", "show", "compare", "report"])
@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_a_tampered_folder_gives_one_clear_line(name, command, planted, request):
    """Every view of a copied folder: no terminal escapes, no markup or script reaching the report, no traceback;
    a refusal is one line."""
    file, change = TAMPERED[name]
    if change is None:
        (planted / file).write_text((planted / file).read_text() + "\nimport os\n")
    elif file.endswith(".jsonl"):
        lines = [json.loads(line) for line in (planted / file).read_text().splitlines()]
        change(lines[-1])
        (planted / file).write_text("".join(json.dumps(line) + "\n" for line in lines))
    else:
        data = json.loads((planted / file).read_text())
        change(data)
        (planted / file).write_text(json.dumps(data))
    page = planted.parent / "report.html"
    args = {"verify": ["--episodes", "1"], "play": ["--episodes", "1"], "show": [], "compare": ["--json"],
            "report": ["-o", str(page)]}[command]
    code, said = cli(command, planted.name, "--out", str(planted.parent), *args)
    assert "\x1b" not in said and "\u202e" not in said, repr(said[-400:])
    assert "Traceback" not in said and "internal error" not in said, said[-400:]
    if code != 0:
        assert said.strip().startswith("promptpo: error:") and len(said.strip().splitlines()) == 1, said
    if command == "report" and code == 0:
        assert planted.name in page.read_text() and "<script>alert(1)" not in page.read_text()


@pytest.mark.parametrize("finish", [True, False], ids=["finish", "resume"])
@pytest.mark.parametrize("file, field, value", [
    ("summary.json", "training_env_steps", "abc"), ("summary.json", "training_env_steps", [1]),
    ("summary.json", "training_env_steps", float("inf")), ("run.json", "seed", "x")])
def test_resuming_a_folder_with_a_field_that_is_not_a_number_is_one_clear_error(file, field, value, finish, planted):
    """A stopped folder whose numbers are not numbers: `resume` (and `--finish`) refuse it, no internal error."""
    mark_unfinished(planted)
    data = json.loads((planted / file).read_text())
    data[field] = value
    (planted / file).write_text(json.dumps(data))
    code, said = cli("resume", planted.name, "--out", str(planted.parent), *(["--finish"] if finish else []))
    assert code != 0 and "Traceback" not in said and "internal error" not in said, said[-400:]
    assert "is not a number" in said, said[-400:]


def _state(change):
    def edit(folder: Path) -> None:
        path = folder / "finetune_state.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return edit


def _curve(text: str):
    def edit(folder: Path) -> None:
        path = folder / "curve.jsonl"
        lines = path.read_text().splitlines()
        path.write_text("\n".join([lines[0], text, *lines[1:]]) + "\n")
    return edit


DAMAGED = {  # the state beside a genuine signed checkpoint, and the curve: unsigned, so anyone can change them
    "state_missing": lambda folder: (folder / "finetune_state.json").unlink(),
    "state_not_json": lambda folder: (folder / "finetune_state.json").write_text("{"),
    "state_a_list": lambda folder: (folder / "finetune_state.json").write_text("[]"),
    "best_return_a_string": _state(lambda d: d.update(best_return="x")),
    "best_return_a_numeric_string": _state(lambda d: d.update(best_return="5")),
    "best_at_a_list": _state(lambda d: d.update(best_at=[1])),
    "rollbacks_none": _state(lambda d: d.update(rollbacks=None)),
    "episodes_true": _state(lambda d: d.update(episodes=True)),
    "wall_time_infinite": _state(lambda d: d.update(wall_time_s=float("inf"))),
    "best_returns_of_strings": _state(lambda d: d.update(best_returns=["a", "b"])),
    "best_returns_a_dict": _state(lambda d: d.update(best_returns={"a": 1})),
    "curve_line_not_json": _curve("{"),
    "curve_line_a_list": _curve("[1, 2]"),
    "curve_last_line_cut_short": lambda folder: (folder / "curve.jsonl").write_text(
        (folder / "curve.jsonl").read_text() + '{"env_steps": 1'),
}
HUGE = "1" + "0" * 400  # valid JSON, no float holds it


def _raw_state(edit):
    def change(folder: Path) -> None:
        path = folder / "finetune_state.json"
        path.write_text(edit(path.read_text()))
    return change


def _best_pt(edit):
    """best.pt (the best actor, unsigned: loaded weights-only) changed, and the state saying the best came before
    the checkpoint, so the judgement loads it."""
    def change(folder: Path) -> None:
        _state(lambda d: d.update(best_at=100))(folder)
        edit(folder / "best.pt")
    return change


def _wrong_shapes(path: Path) -> None:
    import torch

    state = torch.load(path, weights_only=True)
    torch.save({k: torch.zeros(3, 3) for k in state}, path)


def _replace_dir(name: str):
    def change(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()
    return change


def _run_json(change):
    def edit(folder: Path) -> None:
        data = json.loads((folder / "run.json").read_text())
        change(data)
        (folder / "run.json").write_text(json.dumps(data))
    return edit


DAMAGED.update({  # found by a helper red-teaming the first set
    "episodes_a_400_digit_integer": _raw_state(lambda t: t.replace('"episodes": ', f'"episodes": {HUGE}, "was": ')),
    "best_returns_holding_a_400_digit_integer": _raw_state(lambda t: t.replace('"best_returns": [',
                                                                               f'"best_returns": [{HUGE}, ')),
    "curve_env_steps_a_400_digit_integer": _curve(f'{{"env_steps": {HUGE}}}'),
    "state_a_folder": _replace_dir("finetune_state.json"),
    "curve_a_folder": _replace_dir("curve.jsonl"),
    "state_nested_too_deep": lambda folder: (folder / "finetune_state.json").write_text("[" * 200_000),
    "curve_line_nested_too_deep": _curve("[" * 200_000 + "]" * 200_000),
    "best_pt_missing": _best_pt(lambda path: path.unlink()),
    "best_pt_not_torch": _best_pt(lambda path: path.write_bytes(b"garbage")),
    "best_pt_empty": _best_pt(lambda path: __import__("torch").save({}, path)),
    "best_pt_wrong_shapes": _best_pt(_wrong_shapes),
    "events_not_utf8_with_no_best_returns": lambda folder: (_state(lambda d: d.update(best_returns=[]))(folder),
                                                            (folder / "events.jsonl").write_bytes(b"\xff\xfe\n")),
    "events_nested_too_deep_with_no_best_returns": lambda folder: (
        _state(lambda d: d.update(best_returns=None))(folder), (folder / "events.jsonl").write_text("[" * 200_000)),
    "run_json_without_id": _run_json(lambda d: d.pop("id")),
    "run_json_seed_negative": _run_json(lambda d: d.update(seed=-5)),
    "run_json_ramp_added": _run_json(lambda d: d["config"].update(ramp=1000)),
    "run_json_critic_norm_added": _run_json(lambda d: d["config"].update(critic_norm=True)),
})
GOES_ON = ("curve_line_a_list", "curve_last_line_cut_short", "curve_env_steps_a_400_digit_integer",
           "events_not_utf8_with_no_best_returns",
           "events_nested_too_deep_with_no_best_returns", "run_json_without_id")  # JSON that is no point, a kill's half line: left out


@pytest.mark.parametrize("finish", [True, False], ids=["finish", "resume"])
@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_resuming_a_folder_with_a_damaged_state_or_curve_is_one_clear_error(name, finish, planted):
    """finetune_state.json and curve.jsonl are not signed (the pickles are): whatever they hold, `resume` and
    `--finish` either continue or refuse in one line, never an internal error."""
    mark_unfinished(planted)
    DAMAGED[name](planted)
    code, said = cli("resume", planted.name, "--out", str(planted.parent), *(["--finish"] if finish else []))
    assert "Traceback" not in said and "internal error" not in said, said[-600:]
    if name in GOES_ON:
        assert code == 0, said[-600:]
    else:
        assert code != 0 and said.strip().startswith("promptpo: error:"), said[-600:]
        assert len(said.strip().splitlines()) == 1, said[-600:]  # no header or progress bar before the refusal


RAMPED_ATTACKS = {  # a base that turns once the ramped learner acts (red-team of --ramp, kept as tests)
    "non_finite_once_the_learner_acts": "import numpy as np\ncalls = [0]\n\ndef act(obs):\n    calls[0] += 1\n"
                                        "    return np.array([np.nan if calls[0] > 250 else 0.0])\n",
    "writes_every_record_it_can_find": """import os
import numpy as np
NAMES = ("finetune_state.json", "best.pt", "curve.jsonl", "events.jsonl", "run.json", "summary.json")
calls = [0]


def act(obs):
    calls[0] += 1
    if calls[0] == 250:
        for root in (os.getcwd(), "/tmp", "/work", "/proc/1/cwd", os.path.expanduser("~")):
            for folder, dirs, files in os.walk(root):
                if folder.count("/") > 6:
                    dirs[:] = []
                for name in files:
                    if name in NAMES:
                        try:
                            with open(os.path.join(folder, name), "a") as handle:
                                handle.write("PWNED")
                        except OSError:
                            pass
    return np.array([0.0])
""",
}


@pytest.mark.parametrize("name", sorted(RAMPED_ATTACKS))
def test_a_base_turning_hostile_under_the_ramp_gets_nothing_more(name, backend, tmp_path, unguarded):
    """With --ramp the learner's bound grows while the base runs on: a base that turns once the actor learns fails
    as a recorded failure, or finds no record of its run to write."""
    cfg = tiny(RAMPED_ATTACKS[name], backend, tmp_path / "runs", ramp=200, residual_scale=1.0, penalty=0.0)
    folder = train(cfg, 0)
    summary = json.loads((folder / "summary.json").read_text())
    for record in folder.iterdir():
        if record.name != "base.py" and record.is_file():  # the program's own text holds the word
            assert b"PWNED" not in record.read_bytes(), record.name
    if name.startswith("non_finite"):
        assert summary["status"] == "failed" and "non-finite" in summary["reason"], summary
    else:
        assert summary["status"] in ("completed", "failed"), summary


# -- 4. hostile text in a failure, and a failure only in the judgement --------------------------------------------
NASTY = "\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil\\u2028"
TEXT_ATTACKS = {
    "raises_escapes_in_act": f"import numpy as np\n\ndef act(obs):\n    raise RuntimeError('{NASTY}' * 3)\n",
    "raises_a_megabyte": f"import numpy as np\n\ndef act(obs):\n    raise RuntimeError('{NASTY}' + 'A' * 10**6)\n",
    "prints_a_flood_then_raises": f"import sys\nimport numpy as np\n\ndef act(obs):\n"
                                  f"    sys.stdout.write('{NASTY}' * 10**5)\n    raise ValueError('{NASTY}')\n",
    "exits_with_escapes_on_stderr": f"import os, sys\nimport numpy as np\n\ndef act(obs):\n"
                                    f"    sys.stderr.write('{NASTY}'); sys.stderr.flush()\n    os._exit(7)\n",
}


@pytest.mark.parametrize("name", sorted(TEXT_ATTACKS))
def test_a_failure_reason_is_escaped_and_bounded(name, backend, tmp_path, unguarded, capsys):
    from promptpo.commands.finetune import _report

    folder = train(tiny(TEXT_ATTACKS[name], backend, tmp_path / "runs", steps=200, warmup=50, critic_steps=50), 0)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["reason"].startswith("the base program failed"), summary
    recorded = "".join(p.read_text() for p in folder.glob("*.json*"))
    for raw in ("\x1b", "\x07", "\u202e", "\u2028"):
        assert raw not in summary["reason"] and raw not in recorded
    assert len(summary["reason"]) < 5000
    with pytest.raises(SystemExit):
        _report([folder])  # what `promptpo finetune` prints at the end
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\u202e" not in printed and len(printed) < 6000


JUDGED_ONLY = {  # the base fails only in the judgement (its workers run this code; training's and evaluations' not)
    "hangs": "while True: pass",
    "exits": "os._exit(3)",
}


@pytest.mark.parametrize("name", sorted(JUDGED_ONLY))
def test_a_base_failing_only_in_the_judgement_loses_no_record(name, backend, tmp_path, unguarded, monkeypatch):
    """A base cannot tell the judgement's workers from the evaluations' (each is fresh), so the failure is staged
    from outside: the workers the judgement starts run a program that hangs or dies in act()."""
    from promptpo.finetune import train as training
    from promptpo.policy import loader

    failing = textwrap.dedent(f"""
        import os
        import numpy as np

        def act(obs):
            {JUDGED_ONLY[name]}
    """)
    code = "import numpy as np\n\ndef act(obs):\n    return np.zeros(1)\n"
    sandboxed, judge, judging = training.sandboxed, training.Finetuning.judge, []

    def staged(base, *args, **kwargs):
        return sandboxed(dataclasses.replace(base, code=failing) if judging else base, *args, **kwargs)

    def judged(self):
        judging.append(1)
        return judge(self)

    monkeypatch.setattr(training, "sandboxed", staged)
    monkeypatch.setattr(training.Finetuning, "judge", judged)
    monkeypatch.setattr(loader, "LOADED_LIMITS", dataclasses.replace(loader.LOADED_LIMITS, act_timeout_s=1.0))
    folder = train(tiny(code, backend, tmp_path / "runs", eval_points=2, judge_episodes=2), 0)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["reason"].startswith("the base program failed"), summary
    assert summary["training_env_steps"] == 400
    curve = [json.loads(line) for line in (folder / "curve.jsonl").read_text().splitlines()]
    assert [p["env_steps"] - 100 for p in curve] == [0, 200, 400]  # every evaluation kept
    assert (folder / "checkpoint.zip").is_file()
    code, said = cli("verify", folder.name, "--out", str(folder.parent), "--episodes", "1")
    assert code != 0 and said.startswith("promptpo: error:") and len(said.strip().splitlines()) == 1, said
