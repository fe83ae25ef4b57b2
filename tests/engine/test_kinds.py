"""The registry of run kinds (promptpo.engine.kinds): every kind registered once, found by name or by config, and
labelled by one rule; new runs and resumed ones of every kind go through it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from promptpo.engine import kinds
from promptpo.engine.kinds import Kind
from promptpo.llm.base import Backend
from promptpo.policy.config import OptimizeConfig
from promptpo.records import POLICY_KIND, RunFolder
from promptpo.schedule.task import ScheduleConfig

LEGACY = ROOT / "tests" / "fixtures" / "runs-before-engine"


def test_every_kind_is_registered_under_its_tasks_name():
    registered = kinds.registered()
    assert sorted(registered) == sorted([POLICY_KIND, "schedule", "online"])
    for name, kind in registered.items():
        assert kind.name == kind.task.name == name
    assert kinds.named("ppo") is None  # a baseline's training is no kind the engine drives


def test_a_config_finds_its_kind():
    assert kinds.kind_of(OptimizeConfig(env="gymnasium/CartPole-v1")).name == POLICY_KIND
    assert kinds.kind_of(ScheduleConfig(env="gymnasium/CartPole-v1")).name == "schedule"
    assert kinds.kind_of(ScheduleConfig(env="gymnasium/CartPole-v1", online=True)).name == "online"
    with pytest.raises(TypeError, match="no kind of run reads a RunConfig"):
        from promptpo.engine.config import RunConfig

        kinds.kind_of(RunConfig(env="gymnasium/CartPole-v1"))


def test_a_name_registered_twice_is_an_error():
    before = dict(kinds.registered())
    policy = kinds.named(POLICY_KIND)
    with pytest.raises(TypeError, match="'promptpo' is registered by PolicyKind and Again"):
        class Again(Kind):
            config = OptimizeConfig
            task = policy.task
    assert kinds.registered() == before


class Named(Backend):
    """A backend that is only a name and a label (what the method label reads)."""

    def __init__(self, name: str, label: str):
        super().__init__(label)
        self.name = name

    def complete(self, request):
        raise AssertionError("never asked")


@pytest.mark.parametrize("kind, backend, label", [
    (POLICY_KIND, Named("openai", "openai:gpt-4o"), "promptpo (openai:gpt-4o)"),
    (POLICY_KIND, Named("scripted", "scripted:answers"), "promptpo (scripted)"),
    (POLICY_KIND, Named("offline", "offline (CMA-ES)"), "promptpo (offline (CMA-ES))"),
    ("schedule", Named("litellm", "openai/gpt-4o"), "promptpo schedule (openai/gpt-4o)"),
    ("schedule", Named("offline", "offline (CMA-ES)"), "promptpo schedule (offline)"),
    ("online", Named("manual", "manual"), "promptpo online (manual)"),
])
def test_one_method_label_rule_with_what_each_kind_declares(kind, backend, label):
    assert kinds.named(kind).method(backend) == label


def interrupted(tmp_path: Path, which: str, **meta) -> RunFolder:
    """A copy of a run folder written before the engine, as if it had died while running."""
    path = tmp_path / which
    shutil.copytree(LEGACY / which, path)
    summary = json.loads((path / "summary.json").read_text())
    (path / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    if meta:
        run_json = json.loads((path / "run.json").read_text())
        run_json.update(meta)
        (path / "run.json").write_text(json.dumps(run_json))
    return RunFolder(path)


@pytest.mark.parametrize("which, kind", [("policy", POLICY_KIND), ("schedule", "schedule")])
def test_resume_continues_each_kind_through_the_registry(tmp_path, monkeypatch, which, kind):
    from promptpo.resume import resumable

    monkeypatch.chdir(ROOT)  # the recorded answers' paths are relative to the repository
    registered = kinds.named(kind)
    ends = []
    finished = type(registered).finished

    def told(self, config, result):
        ends.append((self.name, result.status))
        return finished(self, config, result)

    monkeypatch.setattr(type(registered), "finished", told)
    run = interrupted(tmp_path, which)
    job = resumable(run)
    assert job.prepared.kind is registered and job.prepared.kind.rounds
    result = job()
    status = json.loads((LEGACY / which / "summary.json").read_text())["status"]
    assert ends == [(kind, status)] and result.status == status


def test_an_online_run_resumes_as_one(tmp_path, monkeypatch):
    from promptpo.resume import resumable

    monkeypatch.chdir(ROOT)
    config = json.loads((LEGACY / "schedule" / "run.json").read_text())["config"]
    job = resumable(interrupted(tmp_path, "schedule", kind="online", config={**config, "online": True}))
    assert job.prepared.kind is kinds.named("online") and not job.prepared.kind.rounds
    assert job.prepared.kind.resuming == "resuming PPO steering of"


def test_a_training_of_no_kind_has_nothing_to_resume(tmp_path):
    from promptpo.errors import RunStoreError
    from promptpo.resume import resumable

    with pytest.raises(RunStoreError, match="is a ppo run, which has nothing to resume"):
        resumable(interrupted(tmp_path, "schedule", kind="ppo"))
