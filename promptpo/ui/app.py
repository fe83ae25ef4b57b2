"""`promptpo ui`: a local, read-only web view over a runs folder (Starlette, Jinja2, Pygments, plotly.js).

Pages: the runs (live), one run (settings, progress, score vs env steps with trainings of the same env, best
vs LLM calls, the lineage of its candidates; live), one candidate (its code, its diff against its parent, the
prompt and the raw answer, episodes, digest, findings, feedback notes), and compare (the table `promptpo
compare` prints, and the runs' curves). Every number is read through promptpo.records, as the CLI reads it. A
running run's pages poll a fragment the server renders, so everything shown is escaped by the same
autoescaping templates (promptpo.views.pages): model-written text (answers, code, errors, printed output) is never
HTML, and its control and bidi characters show as escapes. Charts are drawn by the plotly.js the installed plotly
package ships, served from here: a page asks nothing of a network.
"""

from __future__ import annotations

import json
import secrets
from itertools import islice
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Route

from promptpo.records import RunFolder, best_scored, calls_text, final_text, status_text
from promptpo.text import visible
from promptpo.views import charts, pages
from promptpo.ui.runs import (
    Listing,
    capped,
    diff,
    find_runs,
    inside,
    lineage,
    readable,
    row,
    score_of,
    status_class,
)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "ui"
SERVED = {".mp4": "video/mp4", ".gif": "image/gif", ".png": "image/png", ".webm": "video/webm"}
"""File types /files serves from a run folder (videos and plots); anything else is 404."""
SCRIPTS = {"charts.js": TEMPLATES.parent / "charts.js", "run.js": TEMPLATES / "run.js",
           "runs.js": TEMPLATES / "runs.js"}
"""The pages' own scripts, served from /static (a page runs no inline script: the CSP allows none); a page hands
them its data in data-* attributes and <script type="application/json"> blocks."""


def environment() -> jinja2.Environment:
    env = pages.environment(TEMPLATES)
    env.filters["num"] = charts.number
    env.globals["score_of"] = score_of
    env.globals["node_class"] = charts.node_class
    from pygments.formatters import HtmlFormatter

    env.globals["pygments_css"] = HtmlFormatter(cssclass="code").get_style_defs(".code")
    return env


def highlight(code: str, lexer: str) -> str:
    """HTML for ``code``, its hidden characters shown as every page shows text (``visible``); Pygments escapes every
    character it does not colour."""
    from pygments import highlight as pyg
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    return pyg(visible(code), get_lexer_by_name(lexer), HtmlFormatter(cssclass="code"))


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
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""What a page may load: from this server only (plotly.js included), so a page never reaches another host. Scripts
run only from the files this server serves (SCRIPTS, plotly.js): a script or on* handler that got into a page's
HTML would not run (base-uri 'none': nor could a <base> element point those files elsewhere)."""
PAGE_S = 20.0
"""Longest a candidate page may take to build (its code coloured, its diff) before it says so instead."""


def make_app(root: Path, token: str | None = None) -> Starlette:
    """Without ``token`` only requests naming a loopback host are served; with one, any host that shows it."""
    templates = environment()

    def page(name: str, **context) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context), headers={"Content-Security-Policy": CSP})

    def not_found(*_) -> Response:
        return PlainTextResponse("not found", status_code=404)

    def of_a_run(view):
        """A view of one run (``view(request, rid, run, listing)``); a run id the folder does not hold, or a run whose
        records cannot be read, is 404. Of the folder's runs, only that one's facts are derived (a running run's
        fragment is asked for every second)."""
        async def handler(request: Request) -> Response:
            rid = request.path_params["run"]
            listing, run = await run_in_threadpool(_one_run, root, rid)
            return not_found() if run is None else await view(request, rid, run, listing)

        return handler

    async def runs_page(request: Request) -> Response:
        return page("runs.html", **await run_in_threadpool(_runs_view, root, request))

    async def runs_fragment(request: Request) -> Response:
        return page("runs_rows.html", **await run_in_threadpool(_runs_view, root, request))

    @of_a_run
    async def run_page(request: Request, rid: str, run: RunFolder, listing: Listing) -> Response:
        return page("run.html", **await run_in_threadpool(_run_view, rid, run, listing))

    @of_a_run
    async def run_fragment(request: Request, rid: str, run: RunFolder, listing: Listing) -> Response:
        return page("run_live.html", **await run_in_threadpool(_run_view, rid, run, listing))

    @of_a_run
    async def candidate_page(request: Request, rid: str, run: RunFolder, listing: Listing) -> Response:
        """Built on a worker thread (colouring and diffing a long program takes a while): other requests go on."""
        import asyncio

        try:
            return await asyncio.wait_for(run_in_threadpool(candidate_view, request, rid, run), PAGE_S)
        except TimeoutError:
            return PlainTextResponse(f"this candidate's page took more than {PAGE_S:g} s to build; read its files "
                                     "in the run folder instead", status_code=503)

    def candidate_view(request: Request, rid: str, run: RunFolder) -> Response:
        records = {str(r["id"]): r for r in run.candidates}
        record = records.get(request.path_params["candidate"])
        if record is None:
            return not_found()
        cid = str(record["id"])
        code = capped(run.text(f"candidates/{cid}.py"))
        parent = records.get(str(record.get("parent")))
        parent_code = capped(run.text(f"candidates/{parent['id']}.py")) if parent else ""
        call = record.get("llm_call")
        prompt = capped(run.text(f"llm/{call:04d}.prompt.md")) if isinstance(call, int) else ""
        answer = capped(run.text(f"llm/{call:04d}.response.md")) if isinstance(call, int) else ""
        evaluation = record.get("evaluation") or {}
        changes = diff(parent_code, code, str(parent["id"]), cid) if parent else ""
        return page("candidate.html", rid=rid, run=run, record=record, code=highlight(code, "python") if code else "",
                    diff=highlight(changes, "diff") if changes else "", parent=parent, prompt=prompt, answer=answer,
                    episodes=evaluation.get("episodes") or [], notes=evaluation.get("notes") or [],
                    output=evaluation.get("output") or "", fault=evaluation.get("fault"),
                    digest=[json.dumps(e.get("digest"), indent=1) for e in (evaluation.get("episodes") or [])[:6]])

    async def compare_page(request: Request) -> Response:
        return page("compare.html", **await run_in_threadpool(_compare_view, root, request.query_params.getlist("run")))

    @of_a_run
    async def file(request: Request, rid: str, run: RunFolder, listing: Listing) -> Response:
        target = inside(run.path, request.path_params["path"])
        if target is None or target.suffix.lower() not in SERVED:
            return not_found()
        return FileResponse(target, media_type=SERVED[target.suffix.lower()])

    async def plotly_js(request: Request) -> Response:
        return FileResponse(charts.plotly_js_path(), media_type="text/javascript",
                            headers={"Cache-Control": "max-age=86400"})

    async def script(request: Request) -> Response:
        path = SCRIPTS.get(request.path_params["name"])
        if path is None:
            return not_found()
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    async def api_runs(request: Request) -> Response:
        listing = await run_in_threadpool(lambda: find_runs(root).with_facts())
        return JSONResponse([row(rid, run) for rid, run in listing.runs.items()])

    routes = [Route("/", runs_page), Route("/live/runs", runs_fragment), Route("/api/runs", api_runs),
              Route("/static/plotly.min.js", plotly_js), Route("/static/{name}", script),
              Route("/compare", compare_page),
              Route("/run/{run:path}/live", run_fragment), Route("/run/{run:path}/candidate/{candidate}", candidate_page),
              Route("/run/{run:path}/files/{path:path}", file), Route("/run/{run:path}", run_page)]
    hosts = ["*"] if token else LOOPBACK_NAMES
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
                                                Middleware(TokenGate, token=token)],
                     exception_handlers={404: not_found})


def _one_run(root: Path, rid: str) -> tuple[Listing, RunFolder | None]:
    """The folder's runs (nothing derived of them), and run ``rid`` with its facts derived: None when the folder
    holds no such run or its records cannot be read."""
    listing = find_runs(root)
    run = listing.runs.get(rid)
    return listing, run if run is not None and readable(run) else None


def _runs_view(root: Path, request: Request) -> dict:
    listing = find_runs(root).with_facts()
    rows = [row(rid, run) for rid, run in listing.runs.items()]
    env, status = request.query_params.get("env", ""), request.query_params.get("status", "")
    shown = [r for r in rows if (not env or r["env"] == env) and (not status or r["status"] == status)]
    return {"rows": shown, "envs": sorted({r["env"] for r in rows}), "statuses": sorted({r["status"] for r in rows}),
            "env": env, "status": status, "root": str(root), "unreadable": listing.unreadable}


def _run_view(rid: str, run: RunFolder, listing: Listing) -> dict:
    facts = run.facts
    same_env = (r for other, r in listing.runs.items()  # told by run.json: only the trainings drawn are derived
                if other != rid and not r.has_programs and str(r.meta.get("env")) == facts.env)
    trainings = list(islice((r for r in same_env if readable(r)), 4))
    figures = [f for f in (charts.steps_figure(run, trainings), charts.calls_figure(run)) if f]
    config = run.meta.get("config") or {k: v for k, v in run.meta.items() if not isinstance(v, (dict, list))}
    videos = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.suffix.lower() in (".mp4", ".gif"))
    sent, answered = run.calls()
    running = facts.status == "running"
    return {"rid": rid, "run": run, "facts": facts, "records": run.candidates, "roots": lineage(run.candidates),
            "charts": charts.embed(figures), "cells": cells_of(run), "status_text": status_text(facts),
            "status_class": status_class(run), "calls_text": calls_text(facts), "best_scored": best_scored(facts),
            "final_text": final_text(facts),
            "budgets": (run.meta.get("config") or {}).get("budgets") or {},
            "in_flight": sorted(set(sent) - set(answered)) if running else [],
            "config": {k: v for k, v in config.items() if not isinstance(v, (dict, list))},
            "running": running, "videos": videos[:20]}


def _compare_view(root: Path, wanted: list[str]) -> dict:
    """What `promptpo compare` prints for the runs ticked (its tables' cells, notes and the runs it left out, from
    the same code), and their curves."""
    listing = find_runs(root).with_facts()
    chosen = [(rid, listing.runs[rid]) for rid in wanted if rid in listing.runs]
    tables, notes, excluded, problem, methods = [], [], [], "", {}
    drawn = [r for _, r in chosen]
    if chosen:
        from promptpo.views.tables import comparison_tables
        from promptpo.views.compare import compare, record_of
        from promptpo.errors import PromptpoError

        try:
            result = compare([record_of(r) for _, r in chosen], allow_different_grids=True)  # the folders listed
            tables, notes, excluded = comparison_tables(result, False), result.notes, result.excluded
            sampled = {Path(r.path).resolve() for r in result.runs}  # repeats and unfinished runs are left out
            drawn = [r for r in drawn if r.path.resolve() in sampled]
            methods = {name: g.method for g in result.groups for name in g.runs}
        except (PromptpoError, KeyError, ValueError) as err:
            problem = str(err)
    figures = charts.compare_figures(drawn, methods)
    return {"runs": [(rid, run.facts) for rid, run in listing.runs.items()], "chosen": [rid for rid, _ in chosen],
            "tables": tables, "notes": notes, "excluded": excluded, "problem": problem, "charts": charts.embed(figures)}


def cells_of(run: RunFolder) -> dict[str, str]:
    """candidate id -> 'island k, cell qQ-sS' from an islands run's search.json (promptpo.search.islands)."""
    from promptpo.errors import RunStoreError

    try:
        record = run.json("search.json") or {}
    except RunStoreError:
        return {}
    found: dict[str, str] = {}
    for island in record.get("population") or []:
        number = island.get("island")
        for cid in island.get("members") or []:
            found[str(cid)] = f"island {number}"
        for cell, cid in (island.get("cells") or {}).items():
            found[str(cid)] = f"island {number}, elite of cell {cell}"
    return found
