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
import textwrap
from pathlib import Path

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


def test_a_planted_learner_archive_runs_nothing_on_verify_play_or_load(tmp_path):
    """A fine-tuning folder someone hands you: SB3's own `load` unpickles model.zip's data (a planted payload would
    run on your machine); verify, play and load_policy read only its weights. The control shows the plant works."""
    import base64
    import os
    import subprocess
    import sys
    import zipfile

    import cloudpickle

    from conftest import run_cli

    marker = tmp_path / "pwned-by-model-zip"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    base = Base("r", "r00c0", "import numpy as np\n\ndef act(obs):\n    return np.zeros(1)\n", 100, None)
    config = FinetuneConfig("gymnasium/Pendulum-v1", 400, base=base, warmup=100, critic_steps=100, eval_points=1,
                            eval_episodes=1, judge_episodes=2, out=tmp_path / "runs",
                            options={"policy_kwargs": {"net_arch": [16]}})
    folder = train(config, 0)
    summary = json.loads((folder / "summary.json").read_text())
    summary["judged"]["result"] = "finetuned"  # so the learner is loaded
    (folder / "summary.json").write_text(json.dumps(summary))
    archive = folder / "model.zip"
    with zipfile.ZipFile(archive) as z:
        members = {name: z.read(name) for name in z.namelist()}
    data = json.loads(members["data"])
    planted = {":type:": "<class 'object'>", ":serialized:": base64.b64encode(cloudpickle.dumps(Payload())).decode()}
    data["policy_class"] = planted
    data["action_noise"] = planted
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(archive, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    for command in (["verify", folder.name, "--episodes", "1"], ["play", folder.name, "--episodes", "1"]):
        proc = run_cli(*command, "--out", str(folder.parent))
        assert proc.returncode == 0, proc.stderr
        assert not marker.exists(), command
    import promptpo

    promptpo.load_policy(folder.name, out=folder.parent).close()
    assert not marker.exists()
    control = subprocess.run([sys.executable, "-c", f"from stable_baselines3 import TD3; TD3.load({str(archive)!r})"],
                             capture_output=True, text=True, timeout=120)
    assert marker.exists(), control.stderr[-1000:]  # the plant is real: SB3's own load runs it


@pytest.mark.parametrize("planted", ["checkpoint.zip", "replay.pkl", "unsigned"])
def test_resume_unpickles_only_checkpoints_this_user_wrote(tmp_path, planted):
    """A checkpoint is SB3's pickles: resume takes it only when its HMAC under this user's secret matches, so a
    folder handed over (or changed since) is refused in one line before anything is unpickled."""
    import os
    import pickle

    from conftest import run_cli
    from promptpo.finetune import train as training

    marker = tmp_path / "pwned-by-checkpoint"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    base = Base("r", "r00c0", "import numpy as np\n\ndef act(obs):\n    return np.zeros(1)\n", 100, None)
    config = FinetuneConfig("gymnasium/Pendulum-v1", 400, base=base, warmup=100, critic_steps=100, eval_points=2,
                            eval_episodes=1, judge_episodes=1, out=tmp_path / "runs",
                            options={"policy_kwargs": {"net_arch": [16]}})
    point, calls = training.Finetuning.point, []

    def interrupted(self):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return point(self)

    training.Finetuning.point = interrupted
    try:
        folder = train(config, 0)
    finally:
        training.Finetuning.point = point
    if planted == "unsigned":
        state = json.loads((folder / "finetune_state.json").read_text())
        state.pop("signatures")
        (folder / "finetune_state.json").write_text(json.dumps(state))
    else:
        (folder / planted).write_bytes(pickle.dumps(Payload()))
    proc = run_cli("resume", folder.name, "--out", str(folder.parent))
    assert proc.returncode != 0 and "was not written by this user's promptpo" in proc.stderr
    assert "Traceback" not in proc.stderr and not marker.exists()
