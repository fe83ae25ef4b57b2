"""The charts `promptpo ui` and `promptpo report` draw, as plotly figures (plain JSON-able dicts).

Every number comes from promptpo.records (a run's facts and candidate records), so a chart says what the tables
beside it say: the best so far is the engine's best (by the rank key: success, then sooner, then return), its
curve starts at 0 env steps, and calls are calls answered. plotly.js ships inside the plotly package; pages
load it from there (``plotly_js``), never from a network.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from promptpo.records import POLICY_KIND, Facts, RunFolder, score_text
from promptpo.records.text import number
from promptpo.records.facts import best_of, complete, criterion_of, placements, record_score
from promptpo.stats import CurvePoint
from promptpo.text import visible

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
CONFIG = {"displaylogo": False, "responsive": True}
"""plotly.js options for every chart (no plotly logo link: the page makes no request it does not need)."""


def plotly_js_path() -> Path:
    """The plotly.min.js the installed plotly package ships."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def label(text: object) -> str:
    """Text for a chart (plotly reads a few HTML tags and entities in names and hover text): shown as written, its
    control and bidi characters as escapes (as every page shows text: promptpo.views.pages)."""
    return html.escape(visible(text, keep_newlines=False), quote=False)


def metric_of(facts: Facts) -> str:
    """What a run's charts plot: success rate where the run's target or records have one, else mean return."""
    if facts.target is not None:
        return facts.target.metric
    return "success_rate" if any(p.success_rate is not None for p in facts.curve) else "mean_return"


def _axis_name(metric: str) -> str:
    return "success rate" if metric == "success_rate" else "mean return"


def _layout(title: str, x: str, y: str, metric: str, log_x: bool = False) -> dict:
    return {"title": {"text": title}, "hovermode": "closest", "uirevision": "keep", "height": 380,
            "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
            "xaxis": {"title": {"text": x}, "type": "log" if log_x else "linear", "rangemode": "tozero",
                      "tickformat": ",d" if not log_x else None, "zeroline": True, "automargin": True},
            "yaxis": {"title": {"text": y}, "automargin": True,
                      **({"range": [-0.05, 1.05], "tickformat": ".0%"} if metric == "success_rate" else {})},
            "legend": {"orientation": "h", "x": 0, "y": -0.22, "yanchor": "top"}}


def _hover(metric: str) -> str:
    return "%{y:.0%}" if metric == "success_rate" else "%{y:,.2f}"


def _value(point_or_score, metric: str):
    if isinstance(point_or_score, dict):
        return point_or_score.get(metric)
    return getattr(point_or_score, metric)


def best_line(curve: list[CurvePoint], name: str, colour: str, metric: str, dash: str = "solid") -> dict | None:
    """A run's curve: the best so far (by the rank key) or a training's evaluations, from 0 env steps; None when it
    has no measured point. One measured point still shows (as a marker)."""
    points = [(p.env_steps, _value(p, metric), p) for p in curve]
    if not any(v is not None for _, v, _ in points):
        return None
    text = [f"{label(name)}<br>env steps {x:,}<br>mean return {number(p.mean_return)}"
            + (f"<br>success rate {p.success_rate:.2f}" if p.success_rate is not None else "") for x, _, p in points]
    return {"type": "scatter", "mode": "lines+markers", "line": {"shape": "hv", "color": colour, "dash": dash},
            "marker": {"size": 6}, "name": label(name), "x": [x for x, _, _ in points], "y": [v for _, v, _ in points],
            "text": text, "hovertemplate": "%{text}<extra></extra>", "connectgaps": False}


def placed(run: RunFolder) -> list[tuple[dict, int]]:
    """Each candidate record in slot order, with the env steps the run had spent up to it (records.facts.placements):
    drawn from the records, the chart holds every candidate the header counts and the best it names, mid-wave too."""
    return [(record, steps) for steps, _, record in placements(run.candidates, run.events())]


def candidate_points(run: RunFolder, metric: str) -> dict | None:
    """Every candidate scored, at the env steps the run had spent up to it in slot order (``placed``)."""
    xs, ys, text, symbols = [], [], [], []
    for record, spent in placed(run):
        value = record_score(record).get(metric)
        if record.get("outcome") != "ok" or value is None:
            continue
        xs.append(spent)
        ys.append(value)
        symbols.append("circle-open" if complete(record) else "x-thin-open")
        text.append(f"{label(record['id'])} ({label(record.get('kind', ''))})<br>{label(score_text(record))}")
    if not xs:
        return None
    return {"type": "scatter", "mode": "markers", "name": "each candidate (x: stopped early)" if "x-thin-open" in symbols
            else "each candidate", "x": xs, "y": ys, "text": text, "hovertemplate": "%{text}<extra></extra>",
            "marker": {"size": 8, "symbol": symbols, "color": "#777", "line": {"width": 1.5}}}


def target_line(facts: Facts, metric: str) -> dict | None:
    target = facts.target
    if target is None or target.metric != metric:
        return None
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": target.threshold, "y1": target.threshold,
            "line": {"dash": "dot", "color": "#888", "width": 1}}


def steps_figure(run: RunFolder, baselines: list[RunFolder] = ()) -> dict | None:
    """A run's score vs env steps: its best so far, each candidate it scored, and trainings of the same env."""
    facts = run.facts
    metric = metric_of(facts)
    mine = best_line(facts.curve, "best so far" if run.kind == POLICY_KIND else f"{facts.method.name} evaluations",
                     COLOURS[0], metric)
    if mine is None:
        return None
    traces = [mine]
    if run.kind == POLICY_KIND:
        traces += [t for t in [candidate_points(run, metric)] if t]
    for i, other in enumerate(baselines):
        line = best_line(other.facts.curve, f"{other.facts.method.name} seed {other.facts.seed} ({other.name})",
                         COLOURS[(i + 1) % len(COLOURS)], metric, dash="dash")
        if line is not None:
            traces.append(line)
    layout = _layout(f"{_axis_name(metric)} vs env steps", "env steps", _axis_name(metric), metric)
    shape = target_line(facts, metric)
    if shape:
        layout["shapes"] = [shape]
        layout["annotations"] = [{"xref": "paper", "x": 1, "y": shape["y0"], "xanchor": "right", "yanchor": "bottom",
                                  "text": f"target: {label(facts.target.describe())}", "showarrow": False,
                                  "font": {"size": 11, "color": "#666"}}]
    return {"id": "chart-steps", "data": traces, "layout": layout}


def calls_figure(run: RunFolder) -> dict | None:
    """The best so far (by the rank key) against the LLM calls answered when each candidate was recorded. None for
    a run that answered no call (an offline run, a training) or scored nothing."""
    facts = run.facts
    if facts.calls_answered == 0:
        return None
    answered = run.calls()[1]  # in call order
    position = {call: count for count, call in enumerate(answered, 1)}  # the how-manyth answer each call was
    criterion = criterion_of(run.meta)  # a schedule run's own (steps or area)
    metric = metric_of(facts)
    points, best = [], None  # (calls answered, the candidate after which, the best so far)
    for record in run.candidates:  # slot order; a tuned candidate (no call of its own) can become the best too
        best = best_of([r for r in (best, record) if r is not None], criterion)  # the first of equals stays
        call = record.get("llm_call")
        if best is not None and isinstance(call, int) and call in position:
            points.append((position[call], record, best))
    if not points:
        return None
    if points[-1][0] < len(answered) or points[-1][2] is not best:  # the best holds to the last call answered
        points.append((len(answered), run.candidates[-1], best))
    xs, ys, text = [], [], []
    for x, after, chosen in points:
        score = record_score(chosen)
        xs.append(x)
        ys.append(score.get(metric))
        text.append(f"after {label(after['id'])}: best {label(chosen['id'])}<br>mean return "
                    f"{number(score.get('mean_return'))}"
                    + (f"<br>success rate {score['success_rate']:.2f}" if score.get("success_rate") is not None else ""))
    trace = {"type": "scatter", "mode": "lines+markers", "line": {"shape": "hv", "color": COLOURS[4]}, "x": xs,
             "y": ys, "text": text, "name": "best so far", "hovertemplate": "%{text}<extra></extra>"}
    layout = _layout(f"Best {_axis_name(metric)} vs LLM calls", "LLM calls answered", _axis_name(metric), metric)
    layout["xaxis"].update(dtick=1 if len(answered) <= 20 else None, range=[0, len(answered) + 0.5])
    return {"id": "chart-calls", "data": [trace], "layout": layout}


def compare_figures(runs: list[RunFolder], methods_of: dict[str, str] | None = None) -> list[dict]:
    """Per env, each run's curve coloured by its method (seeds of one method share a colour and a legend entry);
    ``methods_of``: run name -> the method its group in compare's table is called."""
    figures = []

    def method_of(run: RunFolder) -> str:
        return (methods_of or {}).get(run.name, run.facts.method.name)

    for index, env in enumerate(sorted({r.facts.env for r in runs})):
        mine = [r for r in runs if r.facts.env == env]
        metric = "success_rate" if any(metric_of(r.facts) == "success_rate" for r in mine) else "mean_return"
        methods = sorted({method_of(r) for r in mine}, key=lambda m: (not m.startswith("ppo"), m))
        traces = []
        for r in mine:
            method = method_of(r)
            line = best_line(r.facts.curve, f"{method} seed {r.facts.seed} ({r.name})",
                             COLOURS[methods.index(method) % len(COLOURS)], metric)
            if line is None:
                continue
            first = not any(t["legendgroup"] == method for t in traces)
            line.update(legendgroup=method, showlegend=first, name=label(method))
            traces.append(line)
        if traces:
            layout = _layout(f"{label(env)}: {_axis_name(metric)} vs env steps", "env steps", _axis_name(metric),
                             metric)
            figures.append({"id": f"chart-compare-{index}", "data": traces, "layout": layout})
    return figures


def embed(figures: list[dict]) -> str:
    """Figures as JSON to put inside <script type="application/json">: nothing in it can close the element."""
    text = json.dumps(_finite({"figures": figures, "config": CONFIG}), allow_nan=False, default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _finite(value):
    """NaN and infinities as null (JSON has no such numbers; plotly leaves a gap)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def node_class(record: dict, best: str | None) -> str:
    """A lineage node's colour from its record: the best; scored in full and succeeding (or with no success to
    measure); scored but never succeeding; stopped early by the cascade; failed to run; not evaluated."""
    if record.get("id") == best:
        return "best"
    outcome = record.get("outcome")
    if outcome == "ok":
        if not complete(record):
            return "stopped"
        return "nosuccess" if record_score(record).get("success_rate") == 0 else "ok"
    return "other" if outcome == "not_evaluated" else "bad"
