"""The program a fine-tuning starts from: read from a promptpo run (its best, or a candidate named), run sandboxed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptpo.errors import ConfigError, RunStoreError
from promptpo.finetune.config import Base


def read_base(run: str, candidate: str | None, out: Path) -> tuple[Base, str]:
    """The base program of ``run`` (a promptpo run folder or id) and the run's environment."""
    from promptpo.records import POLICY_KIND, RunFolder

    folder = RunFolder.find(run, out)
    if folder.kind != POLICY_KIND:
        raise RunStoreError(f"run {folder.name} is a {folder.kind} run: only a promptpo policy run holds a program to "
                            "fine-tune", "give a run of `promptpo optimize`")
    picked = folder.pick(candidate, "fine-tune")
    record = picked.record
    if record.get("outcome") != "ok" or not record.get("score"):
        raise ConfigError(f"candidate {record['id']} of {folder.name} did not run cleanly ({record.get('outcome')})",
                          "fine-tune a candidate whose outcome is ok, e.g. the run's best")
    spent = int(folder.summary.get("env_steps") or 0)
    base = Base(folder.name, record["id"], folder.code(record["id"]), spent, record["score"].get("mean_return"))
    return base, folder.meta.get("env") or folder.summary.get("env")


def sandboxed(base: Base, spec: Any, sandbox: str, seed: int, salt: str | None = None) -> Any:
    """The base program in its own sandbox worker, as a run evaluates it (promptpo.policy.loader, its import guard
    included); one that does not load there is refused in one line."""
    from promptpo.policy import loader

    try:
        return loader.SandboxedPolicy(base.code, spec, sandbox, loader.LOADED_LIMITS, seed=seed, salt=salt)
    except loader.PolicyFailed as err:
        raise ConfigError(f"the base program {base.run} {base.candidate} does not load in the {sandbox} sandbox: {err}",
                          "fine-tune a candidate that ran cleanly") from None
