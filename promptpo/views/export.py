"""Standalone policy files: `promptpo export` writes them (`promptpo.load_policy` loads them, promptpo.policy.loader)."""

from __future__ import annotations

from pathlib import Path

from promptpo import gate
from promptpo.errors import ConfigError
from promptpo.extract import author, trust_lines
from promptpo.text import comment_header
from promptpo.records import RunFolder, score_text
from promptpo.engine.store import write_output
from promptpo.records import headline


def header(run: RunFolder, record: dict) -> list[str]:
    episodes = len([e for e in (record.get("evaluation") or {}).get("episodes", []) if e.get("completed")])
    what = "schedule" if run.kind == "schedule" else "policy"
    lines = [f"promptpo {what} — run {run.path.name}, candidate {record['id']}",
             f"env: {run.meta['env']}   model: {run.meta.get('model', '?')}",
             f"recorded score: {score_text(record)}" + ("" if what == "schedule" else f" ({episodes} episodes)")]
    check = run.verification(record["id"])
    if check is None:
        lines.append(f"verified: no — run `promptpo verify` before trusting this {what}")
    elif what == "schedule":
        lines.append(f"verified on {check['seeds']} fresh training seeds: final returns "
                     f"{[round(v, 1) for v in check['verified_final_returns']]}"
                     + ("" if headline(check).startswith("ok") else " — " + headline(check)))
        lines.append("Call schedule(progress, metrics) from a Stable-Baselines3 callback (promptpo.schedule.steering).")
        return lines
    elif check.get("outcome", "ok") != "ok":
        lines.append(f"verified on fresh episodes: {headline(check)}")
    else:
        v = check["verified"]
        text = f"verified on {v['episodes']} fresh episodes: mean return {v['mean_return']:.2f}"
        if v.get("success_rate") is not None:
            text += f", success rate {v['success_rate']:.2f}"
        lines.append(text + (" — " + headline(check) if check["gap"] else ""))
    return lines


def export(run: RunFolder, candidate_id: str | None, out: Path, allow_findings: bool = False) -> Path:
    """The candidate as a file whose header says what it is; one the gate refuses only with ``allow_findings``."""
    record = run.candidate(candidate_id)
    if record["outcome"] != "ok":
        raise ConfigError(f"candidate {record['id']} did not run cleanly ({record['outcome']})",
                          "export a candidate whose outcome is ok, e.g. the best one")
    code = run.code(record["id"])
    refused = gate.check(code)
    if refused and not allow_findings:
        raise ConfigError(f"candidate {record['id']} does not pass the gate: {refused[0]}",
                          "read the code; export it anyway with --allow-findings")
    written = author(record.get("kind", ""), run.meta.get("backend") == "offline")
    lines = header(run, record) + trust_lines(code, str(out), written)
    text = comment_header(lines) + "\n\n" + code
    return write_output(out, text)
