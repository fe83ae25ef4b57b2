"""`promptpo ui`: a local, read-only web view over a runs folder (Starlette, Jinja2, Pygments).

Pages: the runs (live), one run (settings, progress, score vs env steps with baselines of the same
env, the lineage of its candidates; live), one candidate (its code, its diff against its parent,
the prompt and the raw answer, episodes, digest, findings, feedback notes), and compare. A running
run's pages poll a fragment the server renders, so everything shown is escaped by the same
autoescaping templates: model-written text (answers, code, errors, printed output) is never HTML.
"""

from __future__ import annotations

import html
import json
import secrets
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from promptpo.ui.runs import Run, candidates, curve, diff, find_runs, inside, lineage, score_of, text_of
from promptpo.ui.runs import read_lines

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "ui"
SERVED = {".mp4": "video/mp4", ".gif": "image/gif", ".png": "image/png", ".webm": "video/webm"}
"""File types /files serves from a run folder (videos and plots); anything else is 404."""


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda v, digits=2: "-" if v is None else (f"{v:,.{digits}f}" if isinstance(v, float)
                                                                    else f"{v:,}" if isinstance(v, int) else str(v))
    env.globals["score_of"] = score_of
    from pygments.formatters import HtmlFormatter

    env.globals["pygments_css"] = HtmlFormatter(cssclass="code").get_style_defs(".code")
    return env


def highlight(code: str, lexer: str) -> str:
    """HTML for ``code`` (Pygments escapes every character it does not colour)."""
    from pygments import highlight as pyg
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    return pyg(code, get_lexer_by_name(lexer), HtmlFormatter(cssclass="code"))


def svg_curves(series: list[tuple[str, list[tuple[float, float]]]], width: int = 640, height: int = 240,
               axis: str = "env steps") -> str:
    """Score vs env steps as an inline SVG (numbers only: no text from the run goes in but escaped labels)."""
    points = [p for _, s in series for p in s]
    if not points:
        return ""
    x0, x1 = 0.0, max(p[0] for p in points) or 1.0
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    y1 = y1 if y1 > y0 else y0 + 1.0
    y0, y1 = y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0)  # a margin, so a line at the best is not the frame
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    parts = [f'<svg class="curve" width="{width}" height="{height + 40}" xmlns="http://www.w3.org/2000/svg">',
             f'<rect x="40" y="0" width="{width - 50}" height="{height}" fill="#fafafa" stroke="#ccc"/>']
    for i, (label, s) in enumerate(series):
        xy = " ".join(f"{40 + (x - x0) / (x1 - x0) * (width - 50):.1f},{height - (y - y0) / (y1 - y0) * height:.1f}"
                      for x, y in s)
        colour = colours[i % len(colours)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{xy}"/>')
        parts.append(f'<text x="{50 + 160 * i}" y="{height + 30}" fill="{colour}">{html.escape(label[:40])}</text>')
    parts.append(f'<text x="0" y="12">{y1:.4g}</text><text x="0" y="{height}">{y0:.4g}</text>'
                 f'<text x="{width - 10}" y="{height + 14}" text-anchor="end">{x1:,.0f} {axis}</text></svg>')
    return "".join(parts)


class TokenGate(BaseHTTPMiddleware):
    """With --token: every request shows it (?token= once, then the cookie this sets), else 403."""

    def __init__(self, app, token: str | None):
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next):
        if self.token is None:
            return await call_next(request)
        given = request.query_params.get("token") or request.cookies.get("promptpo_token") or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return PlainTextResponse("a token is needed: open the URL `promptpo ui` printed", status_code=403)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie("promptpo_token", self.token, httponly=True, samesite="strict")
        return response


LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]
"""Host headers served without a token: a page on another site that points its own name at 127.0.0.1 (DNS
rebinding) sends its own name, and gets nothing."""
PAGE_S = 20.0
"""Longest a candidate page may take to build (its code coloured, its diff) before it says so instead."""


def make_app(root: Path, token: str | None = None) -> Starlette:
    """Without ``token`` only requests naming a loopback host are served; with one, any host that shows it."""
    templates = environment()

    def page(name: str, **context) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context))

    def not_found(*_) -> Response:
        return PlainTextResponse("not found", status_code=404)

    def of_a_run(view):
        """A view of one run (``view(request, run, runs)``); a run id the folder does not hold is 404."""
        async def handler(request: Request) -> Response:
            runs = find_runs(root)
            run = runs.get(request.path_params["run"])
            return not_found() if run is None else await view(request, run, runs)

        return handler

    async def runs_page(request: Request) -> Response:
        return page("runs.html", **_runs_view(root, request))

    async def runs_fragment(request: Request) -> Response:
        return page("runs_rows.html", **_runs_view(root, request))

    @of_a_run
    async def run_page(request: Request, run: Run, runs: dict[str, Run]) -> Response:
        return page("run.html", **_run_view(run, runs))

    @of_a_run
    async def run_fragment(request: Request, run: Run, runs: dict[str, Run]) -> Response:
        return page("run_live.html", **_run_view(run, runs))

    @of_a_run
    async def candidate_page(request: Request, run: Run, runs: dict[str, Run]) -> Response:
        """Built on a worker thread (colouring and diffing a long program takes a while): other requests go on."""
        import asyncio

        try:
            return await asyncio.wait_for(run_in_threadpool(candidate_view, request, run), PAGE_S)
        except asyncio.TimeoutError:
            return PlainTextResponse(f"this candidate's page took more than {PAGE_S:g} s to build; read its files "
                                     "in the run folder instead", status_code=503)

    def candidate_view(request: Request, run: Run) -> Response:
        records = {str(r["id"]): r for r in candidates(run)}
        record = records.get(request.path_params["candidate"])
        if record is None:
            return not_found()
        cid = str(record["id"])
        code = text_of(run.path / "candidates" / f"{cid}.py")
        parent = records.get(str(record.get("parent")))
        parent_code = text_of(run.path / "candidates" / f"{parent['id']}.py") if parent else ""
        call = record.get("llm_call")
        llm = run.path / "llm"
        prompt = text_of(llm / f"{call:04d}.prompt.md") if isinstance(call, int) else ""
        answer = text_of(llm / f"{call:04d}.response.md") if isinstance(call, int) else ""
        evaluation = record.get("evaluation") or {}
        changes = diff(parent_code, code, str(parent["id"]), cid) if parent else ""
        return page("candidate.html", run=run, record=record, code=highlight(code, "python") if code else "",
                    diff=highlight(changes, "diff") if changes else "", parent=parent, prompt=prompt, answer=answer,
                    episodes=evaluation.get("episodes") or [], notes=evaluation.get("notes") or [],
                    output=evaluation.get("output") or "", fault=evaluation.get("fault"),
                    digest=[json.dumps(e.get("digest"), indent=1) for e in (evaluation.get("episodes") or [])[:6]])

    async def compare_page(request: Request) -> Response:
        found = find_runs(root)
        chosen = [found[r] for r in request.query_params.getlist("run") if r in found]
        table, problem = [], ""
        if chosen:
            from promptpo.compare import compare, find_runs as records_of, to_json
            from promptpo.errors import PromptpoError

            try:
                result = to_json(compare(records_of([str(r.path) for r in chosen], root), allow_different_grids=True))
                table = result["groups"]
            except (PromptpoError, KeyError, ValueError) as err:
                problem = str(err)
        series = [(r.id, curve(r)) for r in chosen]
        return page("compare.html", runs=list(found.values()), chosen=[r.id for r in chosen], table=table,
                    problem=problem, plot=svg_curves(series))

    @of_a_run
    async def file(request: Request, run: Run, runs: dict[str, Run]) -> Response:
        target = inside(run.path, request.path_params["path"])
        if target is None or target.suffix.lower() not in SERVED:
            return not_found()
        return FileResponse(target, media_type=SERVED[target.suffix.lower()])

    async def api_runs(request: Request) -> Response:
        return JSONResponse([r.row() for r in find_runs(root).values()])

    routes = [Route("/", runs_page), Route("/live/runs", runs_fragment), Route("/api/runs", api_runs),
              Route("/compare", compare_page), Route("/run/{run:path}/live", run_fragment),
              Route("/run/{run:path}/candidate/{candidate}", candidate_page),
              Route("/run/{run:path}/files/{path:path}", file), Route("/run/{run:path}", run_page)]
    hosts = ["*"] if token else LOOPBACK_NAMES
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
                                                Middleware(TokenGate, token=token)],
                     exception_handlers={404: not_found})


def _runs_view(root: Path, request: Request) -> dict:
    runs = list(find_runs(root).values())
    env, status = request.query_params.get("env", ""), request.query_params.get("status", "")
    shown = [r for r in runs if (not env or r.env == env) and (not status or r.status == status)]
    return {"rows": [r.row() for r in shown], "envs": sorted({r.env for r in runs}),
            "statuses": sorted({r.status for r in runs}), "env": env, "status": status, "root": str(root)}


def _run_view(run: Run, runs: dict[str, Run]) -> dict:
    records = candidates(run)
    baselines = [r for r in runs.values() if r.env == run.env and r.id != run.id and r.kind != "promptpo"]
    series = [(f"this run ({run.kind})", curve(run))] + [(f"{b.kind} seed {b.meta.get('seed', '?')}", curve(b))
                                                         for b in baselines[:4]]
    config = run.meta.get("config") or {k: v for k, v in run.meta.items() if not isinstance(v, (dict, list))}
    videos = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.suffix.lower() in (".mp4", ".gif"))
    budgets = (run.meta.get("config") or {}).get("budgets") or {}
    events = _events(run)
    asked = {e.get("call") for e in events if e.get("event") == "llm_request"}
    answered = {e.get("call") for e in events if e.get("event") == "llm_response"}
    by_call, best = [], None
    for r in records:  # best so far against the LLM calls spent
        score = (r.get("score") or {}).get("mean_return")
        if isinstance(r.get("llm_call"), int) and isinstance(score, (int, float)):
            best = score if best is None else max(best, score)
            by_call.append((r["llm_call"], best))
    return {"run": run, "records": records, "roots": lineage(records), "plot": svg_curves(series),
            "calls_plot": svg_curves([("best so far", by_call)], axis="LLM calls") if len(by_call) > 1 else "",
            "cells": cells_of(run),
            "budgets": budgets, "in_flight": sorted(c for c in asked - answered if c is not None) if run.status == "running"
            else [],
            "config": {k: v for k, v in config.items() if not isinstance(v, (dict, list))},
            "summary": run.summary, "running": run.status == "running", "videos": videos[:20]}


def _events(run: Run) -> list[dict]:
    return read_lines(run.path / "events.jsonl")


def cells_of(run: Run) -> dict[str, str]:
    """candidate id -> 'island k, cell qQ-sS' from an islands run's search.json (promptpo.search.islands)."""
    from promptpo.ui.runs import read_json

    record = read_json(run.path / "search.json") or {}
    found: dict[str, str] = {}
    for island in record.get("population") or []:
        number = island.get("island")
        for cid in island.get("members") or []:
            found[str(cid)] = f"island {number}"
        for cell, cid in (island.get("cells") or {}).items():
            found[str(cid)] = f"island {number}, elite of cell {cell}"
    return found
