"""Standalone policy files: `promptpo export` writes them, `promptpo.load_policy` loads them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from promptpo.errors import ConfigError
from promptpo.engine.runfolder import RunFolder, score_text
from promptpo.engine.store import write_output
from promptpo.verify import latest


def header(run: RunFolder, record: dict) -> list[str]:
    episodes = len([e for e in (record.get("evaluation") or {}).get("episodes", []) if e.get("completed")])
    what = "schedule" if run.kind == "schedule" else "policy"
    lines = [f"promptpo {what} — run {run.path.name}, candidate {record['id']}",
             f"env: {run.meta['env']}   model: {run.meta.get('model', '?')}",
             f"recorded score: {score_text(record)}" + ("" if what == "schedule" else f" ({episodes} episodes)")]
    check = latest(run, record["id"])
    if check is None:
        lines.append(f"verified: no — run `promptpo verify` before trusting this {what}")
    elif what == "schedule":
        lines.append(f"verified on {check['seeds']} fresh training seeds: final returns "
                     f"{[round(v, 1) for v in check['verified_final_returns']]}"
                     + (" — GAP: " + check["verdict"] if check["gap"] else ""))
        lines.append("Needs nothing: call schedule(progress, metrics) from a Stable-Baselines3 callback.")
        return lines
    else:
        v = check["verified"]
        text = f"verified on {v['episodes']} fresh episodes: mean return {v['mean_return']:.2f}"
        if v.get("success_rate") is not None:
            text += f", success rate {v['success_rate']:.2f}"
        lines.append(text + (" — GAP: " + check["verdict"] if check["gap"] else ""))
    lines.append("Needs only numpy. Usage: policy = promptpo.load_policy(path); policy.reset(); policy.act(obs)")
    return lines


def export(run: RunFolder, candidate_id: str | None, out: Path) -> Path:
    record = run.candidate(candidate_id)
    if record["outcome"] != "ok":
        raise ConfigError(f"candidate {record['id']} did not run cleanly ({record['outcome']})",
                          "export a candidate whose outcome is ok, e.g. the best one")
    text = "\n".join(f"# {line}" for line in header(run, record)) + "\n\n" + run.code(record["id"])
    return write_output(out, text)


class LoadedPolicy:
    """A policy file loaded in this process: ``reset()`` then ``act(obs)`` per step.

    The code runs with your privileges, outside any sandbox: load only files you have audited.
    """

    def __init__(self, module: Any, path: Path):
        self.module, self.path = module, path
        self._factory = getattr(module, "Policy", None)
        self._function = getattr(module, "act", None)
        if not callable(self._factory) and not callable(self._function):
            raise ConfigError(f"{path} defines neither a Policy class nor an act(obs) function")
        self._policy = None
        self.reset()

    def reset(self) -> None:
        if callable(self._factory):
            self._policy = self._factory()
            if callable(getattr(self._policy, "reset", None)):
                self._policy.reset()

    def act(self, obs: Any) -> Any:
        return self._policy.act(obs) if self._policy is not None else self._function(obs)

    __call__ = act


def load_policy(path: str | Path) -> LoadedPolicy:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no policy file {path}")
    spec = importlib.util.spec_from_file_location(f"promptpo_policy_{abs(hash(str(path.resolve())))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return LoadedPolicy(module, path)
