"""`promptpo report`: one self-contained HTML file for a run (plots inlined, no external assets)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import jinja2

from promptpo.audit import static_findings
from promptpo.compare import promptpo_curve
from promptpo.llm.mixture import models_text
from promptpo.llm.tokens import usage_text
from promptpo.engine.runfolder import RunFolder, score_text
from promptpo.engine.store import write_output
from promptpo.verify import headline, latest

TEMPLATES = Path(__file__).with_name("templates")


def _plot(run: RunFolder) -> str | None:
    events = run.events()
    curve = promptpo_curve(events)
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    request_count, call_axis = 0, []  # LLM calls made when each scored candidate came in
    for e in events:
        if e.get("event") == "llm_request":
            request_count += 1
        if e.get("event") == "candidate" and e.get("outcome") == "ok":
            call_axis.append(request_count)
    metric = "success_rate" if curve[-1].success_rate is not None else "mean_return"
    ys = [getattr(p, metric) for p in curve]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    left.step([p.env_steps for p in curve], ys, where="post", marker="o")
    left.set_xlabel("env steps")
    right.step(call_axis, ys, where="post", marker="o", color="tab:orange")
    right.set_xlabel("LLM calls")
    for ax in (left, right):
        ax.set_ylabel("best " + ("success rate" if metric == "success_rate" else "mean return") + " so far")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _tree(records: list[dict]) -> str:
    children: dict[str | None, list[dict]] = {}
    ids = {r["id"] for r in records}
    for r in records:
        parent = r.get("parent") if r.get("parent") in ids else None
        children.setdefault(parent, []).append(r)

    def render(parent: str | None) -> str:
        items = children.get(parent, [])
        if not items:
            return ""
        return "<ul class='tree'>" + "".join(
            f"<li><a href='#{html.escape(r['id'])}'>{html.escape(r['id'])}</a> {html.escape(r['outcome'])} — "
            f"{html.escape(score_text(r))}{render(r['id'])}</li>" for r in items) + "</ul>"

    return render(None)


def report(run: RunFolder, out: Path) -> Path:
    meta, summary = run.meta, run.summary
    best = summary.get("best_candidate")
    cost = summary.get("cost_usd")
    settings = [("env", meta.get("env")), ("model", meta.get("model")), ("sandbox", meta.get("sandbox")),
                ("seed", meta.get("seed")), ("target", meta.get("target")), ("status", summary.get("status")),
                ("reason", summary.get("reason")), ("started", meta.get("started")), ("ended", meta.get("ended")),
                ("best candidate", best), ("env steps", summary.get("env_steps")),
                ("LLM calls", summary.get("llm_calls")),
                *([("models", models_text(summary))] if models_text(summary) else []),
                ("tokens", usage_text(summary)),
                ("cost", "unknown" if cost is None else f"${cost:.4f}"), ("wall time", f"{summary.get('wall_time_s')} s")]
    candidates = []
    for record in run.candidates:
        check = latest(run, record["id"])
        code = run.code(record["id"]) if (run.path / "candidates" / f"{record['id']}.py").exists() else ""
        candidates.append({
            "id": record["id"], "kind": record["kind"], "parent": record.get("parent"), "outcome": record["outcome"],
            "score": score_text(record), "env_steps": record.get("env_steps", 0), "error": record.get("error", ""),
            "findings": static_findings(code), "best": record["id"] == best, "code": code,
            "episodes": (record.get("evaluation") or {}).get("episodes", []),
            "verification": None if check is None else (
                f"{check['verified']['episodes']} fresh episodes, mean return {check['verified']['mean_return']}, "
                f"success {check['verified']['success_rate']} — {headline(check)}")})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    page = env.get_template("report.html.j2").render(run={"id": run.path.name}, settings=settings, plot=_plot(run),
                                                     tree=jinja2.utils.markupsafe.Markup(_tree(run.candidates)),
                                                     candidates=candidates)
    return write_output(out, page)

