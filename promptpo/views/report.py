"""`promptpo report`: one self-contained HTML file for a run: its settings, its charts (plotly, with plotly.js
inlined from the installed package, so the file opens offline and asks nothing of a network), its candidates'
tree, code and results. Every number is read through promptpo.records, as `show`, `compare` and `ui` read it;
the charts are the ones `ui` draws (promptpo.views.charts), its text shown as `ui` shows it (promptpo.views.pages). The
file's own Content-Security-Policy (``policy``) runs only the scripts it carries."""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path

from markupsafe import Markup

from promptpo.views.audit import static_findings
from promptpo.engine.store import write_output
from promptpo.errors import RunStoreError
from promptpo.llm.mixture import models_text
from promptpo.llm.tokens import usage_text
from promptpo.records import RunFolder, best_scored, calls_text, final_text, number, score_text, status_text
from promptpo.text import visible
from promptpo.views import charts, pages

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _tree(records: list[dict], best: str | None) -> str:
    """The candidates as nested lists, in HTML: each record's text as the template shows text (pages.shown)."""
    children: dict[str | None, list[dict]] = {}
    ids = {r["id"] for r in records}
    for r in records:
        parent = r.get("parent") if r.get("parent") in ids else None
        children.setdefault(parent, []).append(r)

    def text(value: str) -> str:
        return html.escape(visible(value))

    def render(parent: str | None) -> str:
        items = children.get(parent, [])
        if not items:
            return ""
        return "<ul class='tree'>" + "".join(
            f"<li><a class='node {charts.node_class(r, best)}' href='#{text(r['id'])}'>{text(r['id'])}</a> "
            f"{text(r['outcome'])} — {text(score_text(r))}{render(r['id'])}</li>" for r in items) + "</ul>"

    return render(None)


def settings(run: RunFolder) -> list[tuple[str, str]]:
    """What the run was and what it came to, as `show` says it (records.facts), numbers rounded."""
    meta, summary, f = run.meta, run.summary, run.facts
    rows = [("env", f.env), ("method", f.method.name), ("seed", number(f.seed)), ("status", status_text(f))]
    if f.unfinished:
        rows.append(("not finished", f.unfinished))
    if summary.get("reason"):
        rows.append(("reason", str(summary["reason"])))
    rows += [("started", str(meta.get("started") or "-")), ("ended", str(meta.get("ended") or "-"))]
    if run.has_programs:
        best = best_scored(f, run.candidate(f.best) if f.best else None)
        steps = ("no target" if f.target is None else "not reached" if f.steps_to_target is None
                 else number(f.steps_to_target))
        cost = f.cost_usd
        rows += [("model", str(meta.get("model") or "-")), ("sandbox", str(meta.get("sandbox") or "-")),
                 ("target", f.target.describe() if f.target else "none"), ("best candidate", best),
                 ("candidates", number(f.candidates)), ("env steps", number(f.env_steps)), ("steps to target", steps),
                 ("LLM calls", calls_text(f)),
                 *([("models", models_text(summary))] if models_text(summary) else []),
                 ("tokens", usage_text(summary)), ("cost", "unknown" if cost is None else f"${cost:.4f}")]
    else:
        from promptpo.envs.targets import target_for

        target = target_for(f.env)
        reached = f.reaching(target) if target else None
        steps = meta.get("steps")
        budget = f" of {steps:,}" if isinstance(steps, int) else ""
        rows += [("trained", f"{number(f.env_steps)} env steps{budget}" if f.training_steps is None else
                  f"{number(f.training_steps)} training steps{budget} ({number(f.env_steps)} env steps in all)"),
                 ("evaluated", f"{sum(p.mean_return is not None for p in f.curve)} times"
                  + (f", every {f.eval_every:,} env steps" if f.eval_every else "")),
                 ("final evaluation", final_text(f)),
                 ("target compare uses", "none" if target is None else f"{target.describe()}: " + (
                     f"reached after {reached.env_steps:,} env steps" if reached else "not reached")),
                 ("hyperparameters", str(meta.get("hyperparams_source") or summary.get("hyperparams_source") or "-")),
                 ("trained network", "model.zip" if f.model_zip else "none saved")]
    rows.append(("wall time", "-" if f.wall_time_s is None else f"{f.wall_time_s:,.1f} s"))
    return rows


def _verification(run: RunFolder, record: dict) -> str | None:
    from promptpo.records import headline

    try:
        check = run.verification(record["id"])
    except RunStoreError as err:  # one unreadable record is said where it belongs; the report goes on
        return f"its verification record cannot be read: {err.message}"
    if check is None:
        return None
    done = check.get("verified") or {}
    success = done.get("success_rate")
    return (f"{done.get('episodes')} fresh episodes, mean return {number(done.get('mean_return'))}"
            + (f", success rate {success:.2f}" if success is not None else "") + f" — {headline(check)}")


def policy(scripts: list[str]) -> str:
    """The report's Content-Security-Policy, as a <meta> element carries it (the file is opened from disk: no server
    sends a header). It loads nothing, and runs only the inline ``scripts`` (named by their SHA-256): a script or on*
    handler that got into the file's HTML would not run."""
    allowed = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts)
    return ("default-src 'none'; script-src " + (allowed or "'none'") + "; style-src 'unsafe-inline'; "
            "img-src data: blob:; base-uri 'none'; form-action 'none'")


def report(run: RunFolder, out: Path) -> Path:
    best = run.facts.best
    candidates = []
    for record in run.candidates:
        code = run.text(f"candidates/{record['id']}.py")
        candidates.append({
            "id": record["id"], "kind": record["kind"], "parent": record.get("parent"), "outcome": record["outcome"],
            "score": score_text(record), "env_steps": number(record.get("env_steps") or 0),
            "error": record.get("error", ""), "findings": static_findings(code), "best": record["id"] == best,
            "code": code, "episodes": (record.get("evaluation") or {}).get("episodes", []),
            "verification": _verification(run, record)})
    figures = [f for f in (charts.steps_figure(run), charts.calls_figure(run)) if f]
    env = pages.environment(TEMPLATES, trim_blocks=True, lstrip_blocks=True)
    scripts = [charts.plotly_js_path().read_text(encoding="utf-8"),
               (TEMPLATES / "charts.js").read_text(encoding="utf-8")] if figures else []
    page = env.get_template("report.html.j2").render(
        run={"id": run.name}, settings=settings(run), candidates=candidates,
        tree=Markup(_tree(run.candidates, best)), charts=charts.embed(figures),
        has_charts=bool(figures), programs=run.has_programs, csp=policy(scripts),
        scripts=[Markup(s) for s in scripts])
    return write_output(out, page)
