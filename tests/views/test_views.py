"""Every view tells the same truth (issue 38): a corpus of run folders written by the real commands
(tests/corpus.py) is read by `runs`, `show`, `compare`, `report`, `diff`, `audit`, `library list`, `verify`,
`play`, `export` and the UI's pages. None crashes (exit 0, or one clear line of error), and each shows the same
best candidate, env steps to target, LLM calls and seeds for a run as the records say.

What the records say is derived here, independently of promptpo's own readers, from candidates/*.json,
events.jsonl, llm/ and curve.jsonl: the best is the first candidate in slot order with the highest rank key
(success rate, then sooner success, then mean return) among those scored in full; env steps to target are the
steps of every candidate up to and including the first one scored in full that meets the target; calls are
answers recorded in llm/ (none for the offline proposer); a seed is run.json's.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import chromium_session
from corpus import Corpus, build, build_or_load

pytestmark = pytest.mark.slow

FINISHED = {"completed", "target_reached", "budget_exhausted", "answers_exhausted"}
RUN_ID = re.compile(r"\b(r\d{2,}c\d+)\b")


# -- the corpus and what its records say ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    reuse = os.environ.get("PROMPTPO_TEST_CORPUS")
    built = build_or_load(Path(reuse)) if reuse else build(tmp_path_factory.mktemp("corpus"))
    print(f"corpus built in {built.seconds:.0f} s")
    return built


@pytest.fixture(scope="module")
def truth(corpus) -> dict[str, Truth]:
    """Run name -> what its records say."""
    return {path.name: Truth.of(path) for path in corpus.roles.values()}


def lines(path: Path) -> list[dict]:
    """The JSON lines of ``path``; a last line cut short (no newline at its end) is what a kill leaves: skipped."""
    if not path.exists():
        return []
    text = path.read_text()
    rows = text.splitlines()
    if rows and not text.endswith("\n"):
        try:
            json.loads(rows[-1])
        except ValueError:
            rows = rows[:-1]
    return [json.loads(row) for row in rows if row.strip()]


def json_or_none(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def rank(record: dict) -> tuple[float, ...] | None:
    """promptpo.policy.evaluation.Evaluation.rank_key, from a candidate record: None when it has no score."""
    score = record.get("score") or {}
    if record.get("outcome") != "ok" or score.get("mean_return") is None:
        return None
    if score.get("success_rate") is None:
        return (0.0, 0.0, score["mean_return"])
    return (score["success_rate"], -(score.get("mean_steps_to_success") or 0.0), score["mean_return"])


def scored_in_full(record: dict) -> bool:
    stage = (record.get("evaluation") or {}).get("stage")
    return rank(record) is not None and (record.get("score") or {}).get("complete", True) is not False \
        and not (stage and stage.get("passed") is False)


def parse_target(text: str | None) -> tuple[str, float] | None:
    found = re.match(r"\s*(success rate|mean return)\s*>=\s*([-\d.]+)", text or "")
    return (found.group(1), float(found.group(2))) if found else None


def meets(value_of: dict, target: tuple[str, float]) -> bool:
    metric, threshold = target
    value = value_of.get("success_rate" if metric == "success rate" else "mean_return")
    return value is not None and value >= threshold - 1e-9


@dataclass
class Truth:
    name: str
    path: Path
    kind: str
    env: str
    model: str
    seed: int | None
    status: str
    candidates: list[dict]
    """Slot order (round, index)."""
    target: tuple[str, float] | None
    calls_answered: int
    calls_sent: int
    curve: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path) -> Truth:
        meta = json.loads((path / "run.json").read_text())
        events = lines(path / "events.jsonl")
        summary = json_or_none(path / "summary.json") or {}
        ends = [e for e in events if e.get("event") == "run_end"]
        status = summary.get("status") or (ends[-1]["status"] if ends else "running")
        records = [json_or_none(p) for p in (path / "candidates").glob("*.json")]
        records = sorted((r for r in records if r), key=lambda r: (r["round"], r["index"]))
        offline = str(meta.get("model", "")).startswith("offline")
        llm = path / "llm"
        return cls(name=path.name, path=path, kind=meta.get("kind", "promptpo"), env=meta["env"],
                   model=str(meta.get("model") or meta.get("method") or meta.get("kind")),
                   seed=meta.get("seed", (meta.get("config") or {}).get("seed")), status=status, candidates=records,
                   target=parse_target(meta.get("target")),
                   calls_answered=0 if offline else len(list(llm.glob("*.response.md"))),
                   calls_sent=0 if offline else len(list(llm.glob("*.prompt.md"))),
                   curve=lines(path / "curve.jsonl"), events=events)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def programs(self) -> bool:
        return self.kind == "promptpo"

    @property
    def best(self) -> str | None:
        best = None
        for record in self.candidates:
            if scored_in_full(record) and (best is None or rank(record) > rank(best)):
                best = record
        return best["id"] if best else None

    @property
    def best_record(self) -> dict | None:
        return next((r for r in self.candidates if r["id"] == self.best), None)

    def steps_to(self, target: tuple[str, float] | None = None) -> int | None:
        """Env steps the run had spent when it first reached ``target`` (default: its own), or None."""
        target = target or self.target
        if target is None:
            return None
        if not self.programs:
            return next((int(p["env_steps"]) for p in self.curve if meets(p, target)), None)
        spent = 0
        for record in self.candidates:
            spent += int(record.get("env_steps") or 0)
            if scored_in_full(record) and meets(record["score"], target):
                return spent
        return None

    @property
    def steps_to_target(self) -> int | None:
        return self.steps_to()


class Findings:
    """Mismatches collected over many runs, so one failure lists them all."""

    def __init__(self):
        self.items: list[str] = []

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.items.append(message)

    def assert_none(self) -> None:
        assert not self.items, f"{len(self.items)} mismatch(es):\n  " + "\n  ".join(self.items)


# -- running the views ------------------------------------------------------------------------------------------
def cli(corpus: Corpus, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptpo", *args], check=False, capture_output=True, text=True,
                          timeout=timeout, env={**corpus.env(), "COLUMNS": "400"}, cwd=corpus.root)


def cli_each(corpus: Corpus, runs, argv) -> list[tuple[Truth, subprocess.CompletedProcess]]:
    """``cli(corpus, *argv(run))`` for each run, two at a time (most of each is Python starting up)."""
    from concurrent.futures import ThreadPoolExecutor

    runs = list(runs)
    with ThreadPoolExecutor(2) as pool:
        return list(zip(runs, pool.map(lambda run: cli(corpus, *argv(run)), runs)))


def crash(proc: subprocess.CompletedProcess) -> str:
    """'' when the command ended well (exit 0) or with one clear line of error; else what it did."""
    both = proc.stdout + proc.stderr
    if "Traceback" in both or "internal error" in both:
        return f"crashed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}"
    if proc.returncode != 0:
        said = [line for line in proc.stderr.splitlines() if line.strip()]
        if len(said) != 1 or not said[0].startswith("promptpo: error"):
            return f"exit {proc.returncode} without one clear line of error: {proc.stderr.strip()[-400:]}"
    return ""


def ran(proc: subprocess.CompletedProcess) -> str:
    """'' when the command exited 0; else what it did."""
    return crash(proc) or (f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}" if proc.returncode else "")


def table(text: str) -> tuple[list[str], list[list[str]]]:
    """The first rich table in ``text``: its header cells (lower case) and rows (wrapped cells joined)."""
    header: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("┃"):
            cells = [c.strip().lower() for c in line.strip("┃").split("┃")]
            header = cells if not header else [f"{h} {c}".strip() for h, c in zip(header, cells)]
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells and cells[0] == "" and rows:
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
            else:
                rows.append(cells)
        elif line.startswith("└") and rows:
            break
    return header, rows


def key_values(text: str) -> dict[str, str]:
    """The two-column table `show` prints: label (lower case, '_' as ' ') -> value."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")] if line.strip().startswith("│") else []
        if len(cells) == 2 and cells[0]:
            found[cells[0].lower().replace("_", " ")] = cells[1]
    return found


def first_int(text: str | None) -> int | None:
    found = re.search(r"-?\d[\d,]*", text or "")
    return int(found.group(0).replace(",", "")) if found else None


def shows_best(text: str | None, truth: Truth) -> bool:
    """Does a view's 'best' say the records' best (or, with none scored in full, no best / a stopped one)?"""
    named = RUN_ID.findall(text or "")
    if truth.best is None:
        return not named or "stopped" in (text or "")
    return bool(named) and named[0] == truth.best


def calls_of(text: str | None) -> int | None:
    """LLM calls as a view prints them ('-' for none)."""
    text = (text or "").strip()
    return 0 if text in ("-", "", "0") else first_int(text)


def page_text(markup: str, code: bool = True) -> str:
    """The words of an HTML page (``code=False``: without its <pre> and <code> blocks, the programs shown)."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.DOTALL | re.IGNORECASE)
    if not code:
        markup = re.sub(r"<(pre|code)\b.*?</\1>", " ", markup, flags=re.DOTALL | re.IGNORECASE)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def charts(markup: str) -> dict[str, dict]:
    """The plotly figures a page (report or UI) embeds as JSON, by id."""
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', markup, re.DOTALL)
    return {f.get("id"): f for f in json.loads(found.group(1))["figures"]} if found else {}


def check_charts(found: Findings, where: str, markup: str, run: Truth) -> None:
    """The charts say what the records say: curves from 0 env steps, the best so far ending at the best's return,
    no calls axis beyond the calls answered (none for a run without a model), no legend entry without a point."""
    figures = charts(markup)
    for fid, figure in figures.items():
        for trace in figure.get("data") or []:
            xs = [x for x, y in zip(trace.get("x") or [], trace.get("y") or []) if y is not None]
            needed = 2 if trace.get("mode") == "lines" else 1
            found.check(len(xs) >= needed, f"{where} {fid}: {trace.get('name')!r} is in the legend with "
                                           f"{len(xs)} point(s) drawn")
    steps = figures.get("chart-steps")
    if steps and steps.get("data"):
        first = steps["data"][0]
        found.check((first.get("x") or [None])[0] == 0, f"{where} chart-steps: {first.get('name')!r} does not "
                                                         f"start at 0 env steps: {(first.get('x') or [])[:3]}")
        if run.programs and run.best and first.get("name") == "best so far":
            want = f"mean return {run.best_record['score']['mean_return']:,.2f}"
            last = (first.get("text") or [""])[-1]
            found.check(want in last, f"{where} chart-steps: best so far ends at {last!r}, the best {run.best} has "
                                      f"{want}")
    calls = figures.get("chart-calls")
    if calls is not None:
        xs = [x for trace in calls.get("data") or [] for x in trace.get("x") or [] if x is not None]
        found.check(run.calls_answered > 0, f"{where} draws a chart against LLM calls for a run with none")
        found.check(all(x <= run.calls_answered for x in xs),
                    f"{where} chart-calls: points at calls {xs}, {run.calls_answered} answered")


def out_of(corpus: Corpus, truth: Truth) -> Path:
    return corpus.benches if corpus.benches in truth.path.parents else corpus.runs


# -- the corpus is what it claims to be -------------------------------------------------------------------------
def test_the_corpus_holds_every_kind_of_folder(corpus, truth):
    t = {role: truth[path.name] for role, path in corpus.roles.items()}
    failed = [(args, code) for args, code, _ in corpus.log if code not in (0, 130)]
    assert not failed, failed
    assert t["cartpole-s0"].seed == t["cartpole-s0-repeat"].seed == 0 and t["cartpole-s1"].seed == 1
    assert t["cartpole-s0"].model != t["lucky-s0"].model and t["cartpole-s0"].env == t["lucky-s0"].env
    assert t["ppo-s0"].kind == "ppo" and t["ppo-s0"].finished and t["ppo-s1"].finished
    assert t["ppo-interrupted"].status == "interrupted" and len(t["ppo-interrupted"].curve) >= 2
    assert not any(r.kind == "ppo" for r in t.values() if r.env.startswith("metaworld"))
    first = t["pick-place"].candidates[0]
    assert first["evaluation"]["stage"]["passed"] is False and t["pick-place"].best == "r01c0"
    assert t["pick-place-stopped"].candidates and t["pick-place-stopped"].best is None
    reach = t["offline-reach"]
    assert reach.calls_answered == 0 and reach.best == "r00c5" and reach.status == "target_reached"
    high = max((r for r in reach.candidates if r["score"]), key=lambda r: r["score"]["mean_return"])
    assert high["id"] != "r00c5"  # a higher return that did not succeed: the best is not the highest return
    # The run stopped spending at r00c5: its later samples are kept, not evaluated, and cost nothing.
    assert [r["outcome"] for r in reach.candidates[6:]] == ["not_evaluated"] * 3
    spent = json_or_none(reach.path / "summary.json")["env_steps"]
    assert spent == reach.steps_to_target == sum(r["env_steps"] for r in reach.candidates[:6])
    assert t["answers-ran-out"].calls_sent == t["answers-ran-out"].calls_answered + 1
    assert any(e["event"] == "run_resume" for e in t["resumed"].events) and t["resumed"].finished
    assert json_or_none(corpus["corrupt-summary"] / "summary.json") is None
    assert not (corpus["cut-events"] / "events.jsonl").read_text().endswith("\n")
    assert {"bench-scripted", "bench-ppo"} <= set(corpus.roles)
    assert len(corpus["bench-scripted"].relative_to(corpus.benches).parts) == 5  # SUITE/method/task/seed-N/RUN
    # The records agree with themselves: env steps to each candidate, as the events logged them, each once (the
    # resumed run did not evaluate again what it had finished before Ctrl-C).
    for run in t.values():
        ids = [e["id"] for e in run.events if e.get("event") == "candidate"]
        assert len(ids) == len(set(ids)), (run.name, ids)
        logged = {e["id"]: e["total_env_steps"] for e in run.events if e.get("event") == "candidate"}
        spent = 0
        for record in run.candidates:
            spent += record["env_steps"]
            assert logged.get(record["id"], spent) == spent, (run.name, record["id"])
    assert corpus.seconds < 360, f"the corpus took {corpus.seconds:.0f} s to build: keep it small"


# -- runs ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", ["runs", "benches"])
def test_runs_lists_every_run_with_its_best_and_calls(corpus, truth, folder):
    out = getattr(corpus, folder)
    proc = cli(corpus, "runs", "--out", str(out))
    assert not ran(proc), ran(proc)
    header, rows = table(proc.stdout)
    column = {name: i for i, name in enumerate(header)}
    listed = {row[0].rstrip("…"): row for row in rows}
    found = Findings()
    for run in (t for t in truth.values() if out in t.path.parents):
        where = run.path.relative_to(out).as_posix()  # a bench run may be listed by its path under --out
        row = next((r for name, r in listed.items() if name and (where.startswith(name) or run.name.startswith(name)
                                                                  or name.endswith("/" + run.name))), None)
        found.check(row is not None, f"{run.name} is not listed by `runs --out {folder}`")
        if row is None:
            continue
        if "best" in column:
            found.check(shows_best(row[column["best"]], run),
                        f"{run.name}: best {row[column['best']]!r}, the records' is {run.best}")
        if "llm calls" in column:
            found.check(calls_of(row[column["llm calls"]]) == run.calls_answered,
                        f"{run.name}: LLM calls {row[column['llm calls']]!r}, {run.calls_answered} answered")
    found.assert_none()


# -- show ---------------------------------------------------------------------------------------------------------
def test_show_says_each_run_s_best_calls_seed_and_steps_to_target(corpus, truth):
    found = Findings()
    for run, proc in cli_each(corpus, truth.values(), lambda r: ("show", r.name, "--out", str(out_of(corpus, r)))):
        found.check(not ran(proc), f"show {run.name}: {ran(proc)}")
        if proc.returncode:
            continue
        kv = key_values(proc.stdout)
        found.check(first_int(kv.get("seed")) == run.seed, f"show {run.name}: seed {kv.get('seed')!r}, not {run.seed}")
        if run.programs:
            best = kv.get("best candidate", kv.get("best"))
            found.check(shows_best(best, run), f"show {run.name}: best {best!r}, the records' is {run.best}")
            calls = kv.get("llm calls")
            found.check(calls_of(calls) == run.calls_answered,
                        f"show {run.name}: LLM calls {calls!r}, {run.calls_answered} answered")
            _, rows = table(proc.stdout.split("candidates", 1)[-1])
            shown = [RUN_ID.findall(r[0])[0] for r in rows if RUN_ID.findall(r[0])]
            found.check(shown == [r["id"] for r in run.candidates],
                        f"show {run.name}: candidates {shown}, the records hold {[r['id'] for r in run.candidates]}")
        steps = next((v for k, v in kv.items() if "to target" in k), None)
        found.check(steps is not None or not run.target, f"show {run.name}: no steps to target (its target: "
                                                         f"{run.target})")
        if steps is not None:
            found.check(first_int(steps) == run.steps_to_target,
                        f"show {run.name}: steps to target {steps!r}, the records' {run.steps_to_target}")
    found.assert_none()


# -- compare ------------------------------------------------------------------------------------------------------
def test_compare_prints_a_table_and_a_plot_of_the_whole_folder(corpus):
    proc = cli(corpus, "compare", str(corpus.runs / "*"))
    assert not ran(proc), ran(proc)
    plot = corpus.root / "curves.png"
    proc = cli(corpus, "compare", str(corpus.runs / "*"), "--plot", str(plot))
    assert not ran(proc), ran(proc)
    assert plot.is_file() and plot.stat().st_size > 0
    page = corpus.root / "curves.html"
    proc = cli(corpus, "compare", str(corpus.runs / "*"), "--plot", str(page))
    assert not ran(proc), ran(proc)
    assert page.is_file() and "<script src=\"http" not in page.read_text()  # self-contained: works offline


def test_compare_of_a_bench_folder_compares_its_methods(corpus, truth):
    proc = cli(corpus, "compare", str(corpus.benches / "tiny"), "--json")
    assert not ran(proc), ran(proc)
    groups = json.loads(proc.stdout)["groups"]
    assert sorted(name for g in groups for name in g["runs"]) == \
        sorted(corpus[role].name for role in ("bench-scripted", "bench-ppo"))
    for group in groups:
        assert [truth[name].seed for name in group["runs"]] == group["seeds"] == [0]


def test_compare_groups_distinct_seeds_of_one_method_with_the_records_steps_and_calls(corpus, truth):
    proc = cli(corpus, "compare", str(corpus.runs / "*"), "--json")
    assert not ran(proc), ran(proc)
    result = json.loads(proc.stdout)
    targets = {env: parse_target(text) for env, text in (result.get("targets") or {}).items()}
    excluded = " ".join(str(e) for e in result.get("excluded") or [])
    found = Findings()
    grouped: set[str] = set()
    for group in result["groups"]:
        runs = [truth[name] for name in group["runs"]]
        label = f"{group['env']} / {group['method']}"
        grouped |= set(group["runs"])
        found.check(len({(r.kind, r.model) for r in runs}) == 1,
                    f"{label} merges methods: {sorted({r.model for r in runs})}")
        found.check(all(r.finished for r in runs),
                    f"{label} counts unfinished runs: {[r.name for r in runs if not r.finished]}")
        seeds = list(group["seeds"])
        found.check(len(seeds) == len(set(seeds)), f"{label}: seeds {seeds} are not distinct (repeats counted)")
        expected = {r.seed for r in truth.values() if corpus.runs in r.path.parents and r.finished
                    and (r.env, r.kind, r.model) == (runs[0].env, runs[0].kind, runs[0].model)}
        found.check(set(seeds) == expected, f"{label}: seeds {sorted(set(seeds))}, the records have {sorted(expected)}")
        target = targets.get(group["env"])
        for name, steps in zip(group["runs"], group.get("steps_to_target") or []):
            want = truth[name].steps_to(target)
            found.check(steps == want, f"{label}: {name} steps to target {steps}, the records' {want} ({target})")
        calls = (group.get("llm_calls") or {}).get("values") or []
        for name, value in zip(group["runs"], calls):
            found.check(value == truth[name].calls_answered,
                        f"{label}: {name} LLM calls {value}, {truth[name].calls_answered} answered")
    for run in truth.values():
        if corpus.runs in run.path.parents:
            found.check(run.name in grouped or run.name in excluded,
                        f"{run.name} is neither compared nor said to be excluded")
    found.assert_none()


# -- report -------------------------------------------------------------------------------------------------------
def test_report_of_every_run_says_its_best_calls_and_seed(corpus, truth):
    found = Findings()
    (corpus.root / "reports").mkdir(exist_ok=True)
    def argv(r: Truth) -> tuple[str, ...]:
        return "report", r.name, "--out", str(out_of(corpus, r)), "-o", str(corpus.root / "reports" / f"{r.name}.html")

    for run, proc in cli_each(corpus, truth.values(), argv):
        output = corpus.root / "reports" / f"{run.name}.html"
        found.check(not ran(proc), f"report {run.name}: {ran(proc)}")
        if proc.returncode or not output.exists():
            continue
        text = page_text(output.read_text())
        seed = re.search(r"\bseed (\d+)", text)
        found.check(seed is not None and int(seed.group(1)) == run.seed, f"report {run.name}: seed not {run.seed}")
        calls = re.search(r"\bLLM calls (\S+)", text)
        if run.programs or calls:
            found.check(calls is not None and calls_of(calls.group(1)) == run.calls_answered,
                        f"report {run.name}: LLM calls {calls and calls.group(1)!r}, {run.calls_answered} answered")
        if run.programs:
            best = re.search(r"\bbest candidate (\S+(?: \(stopped[^)]*\))?)", text)
            found.check(shows_best(best and best.group(1), run),
                        f"report {run.name}: best {best and best.group(1)!r}, the records' is {run.best}")
        steps = re.search(r"steps to target:? ([\d,]+|-|not reached)", text)
        if steps:
            found.check(first_int(steps.group(1)) == run.steps_to_target,
                        f"report {run.name}: steps to target {steps.group(1)!r}, the records' {run.steps_to_target}")
        check_charts(found, f"report {run.name}", output.read_text(), run)
        if not run.programs:  # a training's report draws its learning curve
            drawn = {x for trace in (charts(output.read_text()).get("chart-steps") or {}).get("data") or []
                     for x in trace.get("x") or []}
            found.check({int(p["env_steps"]) for p in run.curve} <= drawn,
                        f"report {run.name}: the learning curve ({len(run.curve)} evaluations) is not drawn")
        words = page_text(output.read_text(), code=False)
        long = re.search(r"\d+\.\d{5,}", words)
        found.check(long is None, f"report {run.name} prints an unrounded number: {long and long.group(0)}")
        found.check(" None" not in words, f"report {run.name} prints None: "
                    f"{words[max(0, words.find(' None') - 60):words.find(' None') + 20]!r}")
    found.assert_none()


# -- diff and audit -----------------------------------------------------------------------------------------------
def better(run: Truth, a: str, b: str) -> str:
    """Which of candidates a and b ranks higher (scored in full first, then the rank key)."""
    records = {r["id"]: r for r in run.candidates}
    key = {c: (scored_in_full(records[c]), rank(records[c]) or ()) for c in (a, b)}
    return a if key[a] > key[b] else b


@pytest.mark.parametrize("role, pick", [("pick-place", "first-best"), ("offline-reach", "best-highest"),
                                        ("cut-events", "first-best"), ("corrupt-summary", "first-best"),
                                        ("resumed", "first-best")])
def test_diff_leads_with_the_rank_key(corpus, truth, role, pick):
    run = truth[corpus[role].name]
    ids = [r["id"] for r in run.candidates]
    if pick == "first-best":
        a, b = ids[0], (run.best if run.best != ids[0] else ids[-1])
    else:  # the best against the highest return, which did not succeed
        a, b = run.best, max((r for r in run.candidates if r["score"]), key=lambda r: r["score"]["mean_return"])["id"]
    proc = cli(corpus, "diff", run.name, a, b, "--out", str(corpus.runs))
    assert not ran(proc), ran(proc)
    if a == b:
        return
    higher = re.search(r"(r\d+c\d+) ranks higher", proc.stdout)
    assert higher and higher.group(1) == better(run, a, b), proc.stdout[:600]
    change = next((line for line in proc.stdout.splitlines() if line.lower().startswith("change")), "")
    if (run.best_record or {}).get("score", {}).get("success_rate") is not None:
        # A change of success is said before any change of return.
        assert "success" in change, proc.stdout[:600]
        assert "return" not in change or change.find("success") < change.find("return"), change


def test_audit_lists_every_candidate_and_flags_nothing_the_records_contradict(corpus, truth):
    found = Findings()
    programs = (t for t in truth.values() if t.programs)
    for run, proc in cli_each(corpus, programs, lambda r: ("audit", r.name, "--json", "--out", str(out_of(corpus, r)))):
        found.check(not ran(proc), f"audit {run.name}: {ran(proc)}")
        if proc.returncode:
            continue
        rows = json.loads(proc.stdout)
        found.check([r["id"] for r in rows] == [r["id"] for r in run.candidates],
                    f"audit {run.name}: rows {[r['id'] for r in rows]}, records {[r['id'] for r in run.candidates]}")
        records = {r["id"]: r for r in run.candidates}
        for row in rows:
            record = records.get(row["id"])
            if record is None:
                continue
            found.check(row.get("env_steps") == record["env_steps"],
                        f"audit {run.name} {row['id']}: env steps {row.get('env_steps')}, recorded {record['env_steps']}")
            succeeded = [r["id"] for r in run.candidates if r["round"] <= record["round"] and r["id"] != row["id"]
                         and ((r.get("score") or {}).get("success_rate") or 0) > 0]
            flags = " ".join(row.get("flags") or [])
            found.check(not (succeeded and "no candidate has succeeded" in flags),
                        f"audit {run.name} {row['id']}: flags 'no candidate has succeeded' though {succeeded} did")
    found.assert_none()


# -- the library, verify, play, export ----------------------------------------------------------------------------
def test_the_library_holds_every_run_that_reached_its_target(corpus, truth):
    copies = {corpus[r].name for r in ("corrupt-summary", "cut-events")}
    proc = cli(corpus, "library", "list")
    assert not ran(proc), ran(proc)
    header, rows = table(proc.stdout)
    listed = {row[header.index("from run")] for row in rows} if "from run" in header else set()
    found = Findings()
    long = re.search(r"\d+\.\d{5,}", proc.stdout)
    found.check(long is None, f"library list prints an unrounded number: {long and long.group(0)}")
    reached = {t.name for t in truth.values() if t.programs and t.steps_to_target is not None and t.name not in copies}
    found.check(listed == reached, f"library list: listed but not reached: {sorted(listed - reached)}; reached, "
                                   f"not listed: {sorted(reached - listed)}")
    found.assert_none()


@pytest.mark.parametrize("role", ["cartpole-s0", "pick-place", "offline-reach", "resumed", "corrupt-summary",
                                  "cut-events", "pick-place-stopped", "ppo-s0", "ppo-interrupted"])
def test_export_play_and_verify_use_the_records_best(corpus, truth, role):
    run = truth[corpus[role].name]
    out = str(out_of(corpus, run))
    target = corpus.root / "exports" / f"{run.name}.py"
    target.parent.mkdir(exist_ok=True)
    exported = cli(corpus, "export", run.name, "-o", str(target), "--out", out)
    played = cli(corpus, "play", run.name, "--episodes", "1", "--out", out)
    for name, proc in (("export", exported), ("play", played)):
        assert not crash(proc), f"{name}: {crash(proc)}"
        assert "no scored candidate" not in proc.stdout + proc.stderr, f"{name}: {proc.stderr}"
    if not run.programs:  # a training holds no program: one clear line, naming what it holds
        assert exported.returncode and "model.zip" in exported.stderr
        return
    assert exported.returncode == 0 and played.returncode == 0, exported.stderr + played.stderr
    expected = run.best or max((r for r in run.candidates if rank(r)), key=rank)["id"]
    header = target.read_text().splitlines()[0]
    assert f"candidate {expected}" in header, header
    assert re.search(rf"\b{expected} on {re.escape(run.env)}", played.stdout), played.stdout[:400]


@pytest.mark.parametrize("role", ["pick-place-stopped", "ppo-s0"])
def test_verify_of_a_run_without_a_fully_scored_program_says_what_it_holds(corpus, truth, role):
    run = truth[corpus[role].name]
    proc = cli(corpus, "verify", run.name, "--episodes", "2", "--out", str(corpus.runs))
    assert not crash(proc), crash(proc)
    assert "no scored candidate" not in proc.stdout + proc.stderr, proc.stderr
    if run.programs:  # the best of those the cascade stopped, said as such
        expected = max((r for r in run.candidates if rank(r)), key=rank)["id"]
        assert proc.returncode == 0 and f"candidate {expected} of {run.name}" in proc.stdout, proc.stdout[:400]
        assert "stopped" in proc.stdout + proc.stderr


def test_verify_checks_the_best_and_the_library_says_so(corpus, truth):
    run = truth[corpus["cartpole-s0"].name]
    proc = cli(corpus, "verify", run.name, "--episodes", "3", "--out", str(corpus.runs))
    assert not ran(proc), ran(proc)
    assert f"candidate {run.best} of {run.name}" in proc.stdout, proc.stdout[:300]
    header, rows = table(cli(corpus, "library", "list").stdout)
    [row] = [r for r in rows if r[header.index("from run")] == run.name]
    assert row[header.index("verified")] not in ("-", ""), row


# -- the UI -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ui(corpus):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    clients = {name: TestClient(make_app(getattr(corpus, name)), base_url="http://127.0.0.1",
                                raise_server_exceptions=False) for name in ("runs", "benches")}
    yield clients
    for client in clients.values():
        client.close()


def test_ui_lists_every_run_with_the_records_calls_and_seed(corpus, truth, ui):
    found = Findings()
    for name, client in ui.items():
        response = client.get("/api/runs")
        assert response.status_code == 200, response.text[:400]
        rows = {r["id"]: r for r in response.json()}
        root = getattr(corpus, name)
        for run in (t for t in truth.values() if root in t.path.parents):
            row = rows.get(run.name) or next((r for i, r in rows.items() if i.endswith(run.name)), None)
            found.check(row is not None, f"ui --out {name} does not list {run.name}")
            if row is None:
                continue
            found.check(calls_of(str(row.get("llm_calls"))) == run.calls_answered,
                        f"ui {run.name}: LLM calls {row.get('llm_calls')!r}, {run.calls_answered} answered")
            found.check(row.get("seed") == run.seed, f"ui {run.name}: seed {row.get('seed')!r}, not {run.seed}")
            if run.programs and run.best:
                found.check(row.get("best") == pytest.approx(run.best_record["score"]["mean_return"]),
                            f"ui {run.name}: best score {row.get('best')!r}, the best {run.best}'s is "
                            f"{run.best_record['score']['mean_return']}")
            if "status_class" in row:  # green exactly when the run reached its own target
                found.check((row["status_class"] == "good") == (run.steps_to_target is not None),
                            f"ui {run.name}: status {row.get('status')!r} coloured {row['status_class']!r}, though "
                            f"it {'reached' if run.steps_to_target is not None else 'did not reach'} its target")
            if run.programs:
                found.check(row.get("candidates") == len(run.candidates),
                            f"ui {run.name}: candidates {row.get('candidates')!r}, {len(run.candidates)} recorded")
    found.assert_none()


def test_ui_pages_of_every_run_and_candidate_and_compare(corpus, truth, ui):
    found = Findings()
    for name, client in ui.items():
        page = client.get("/")
        found.check(page.status_code == 200, f"ui --out {name} /: {page.status_code} {page.text[:200]}")
        root = getattr(corpus, name)
        mine = [t for t in truth.values() if root in t.path.parents]
        for run in mine:
            rid = run.path.relative_to(root).as_posix() if name == "benches" else run.name
            page = client.get(f"/run/{rid}")
            if page.status_code == 404 and name == "benches":
                page = client.get(f"/run/{run.name}")
            found.check(page.status_code == 200, f"ui /run/{rid}: {page.status_code} {page.text[-300:]}")
            if page.status_code != 200:
                continue
            text = page_text(page.text)
            check_charts(found, f"ui /run/{rid}", page.text, run)
            seed = re.search(r"\bseed (\d+)", text)
            found.check(seed is not None and int(seed.group(1)) == run.seed, f"ui /run/{rid}: seed not {run.seed}")
            calls = re.search(r"\bLLM calls(?: answered)? (\S+)", text)
            found.check(calls is None or calls_of(calls.group(1)) == run.calls_answered,
                        f"ui /run/{rid}: LLM calls {calls and calls.group(1)!r}, {run.calls_answered} answered")
            reached = re.search(r"\btarget [^:]{1,60}: (reached after ([\d,]+) env steps|not reached)", text)
            found.check(reached is not None or not run.target, f"ui /run/{rid}: says nothing of its target")
            if reached:
                found.check(first_int(reached.group(2)) == run.steps_to_target,
                            f"ui /run/{rid}: '{reached.group(0)}', the records' steps to target {run.steps_to_target}")
            for src in re.findall(r'<script[^>]+src="(/[^"]+)"', page.text):
                found.check(client.get(src).status_code == 200, f"ui /run/{rid}: its script {src} is not served")
            if run.programs:
                found.check(run.best is None or run.best in text, f"ui /run/{rid} does not name the best {run.best}")
                found.check(not re.search(r"candidates 0\b", text.lower()),
                            f"ui /run/{rid} says 'candidates 0' of {len(run.candidates)}")
            else:
                found.check(not re.search(r"best\s*-\s*\(|candidates 0\b", text),
                            f"ui /run/{rid} shows a training as a program run ('candidates 0, best -')")
            for record in run.candidates:  # a lineage node is green only for a success (or no success to measure)
                node = re.search(rf'id="node-{record["id"]}" class="node (\w+)"', page.text)
                failing = scored_in_full(record) and (record.get("score") or {}).get("success_rate") == 0
                found.check(not (node and failing and node.group(1) == "ok"),
                            f"ui /run/{rid}: {record['id']} with success 0.00 is drawn as a scored success")
            for record in run.candidates[:3]:
                candidate = client.get(f"/run/{rid}/candidate/{record['id']}")
                found.check(candidate.status_code == 200,
                            f"ui /run/{rid}/candidate/{record['id']}: {candidate.status_code} {candidate.text[-300:]}")
        query = "&".join(f"run={t.path.relative_to(root).as_posix() if name == 'benches' else t.name}" for t in mine)
        page = client.get(f"/compare?{query}")
        found.check(page.status_code == 200, f"ui --out {name} /compare: {page.status_code} {page.text[-300:]}")
        if page.status_code == 200:
            text = page_text(page.text)
            found.check("[None]" not in text and not re.search(r"\[\d+, \d+", text),
                        f"ui --out {name} /compare shows raw lists")
            if name == "runs":  # each method's row says its distinct finished seeds, as the records have them
                cli_groups = json.loads(cli(corpus, "compare", str(root / "*"), "--json").stdout or "{}")
                for group in cli_groups.get("groups") or []:
                    first = truth[group["runs"][0]]
                    seeds = {t.seed for t in mine if t.finished and (t.env, t.kind, t.model) == (first.env, first.kind,
                                                                                                first.model)}
                    found.check(f"{group['method']} {len(seeds)} " in text,
                                f"ui /compare: no row '{group['method']} {len(seeds)}' ({group['env']})")
    found.assert_none()


# -- the UI's charts in a real browser ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(corpus):
    """`promptpo ui` over the corpus's runs folder: its base URL."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "promptpo", "ui", "--out", str(corpus.runs), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=corpus.env())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/runs", timeout=5).read()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def chromium():

    session = chromium_session(log=("browser",))
    yield session
    session.quit()


RENDERED = """
const out = [];
for (const div of document.querySelectorAll('.js-plotly-plot')) {
  const box = (el) => { if (!el) return null; const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  out.push({id: div.id, svg: !!div.querySelector('.main-svg'), xticks: div.querySelectorAll('.xtick').length,
            yticks: div.querySelectorAll('.ytick').length, legend: box(div.querySelector('.legend')),
            plot: box(div.querySelector('.nsewdrag'))});
}
return out;
"""


def overlap(a: list[float] | None, b: list[float] | None) -> bool:
    return bool(a and b) and a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_ui_charts_render_in_chromium_with_ticks_and_legends_clear_of_the_plot(corpus, truth, served, chromium):
    import time

    pages = [f"/run/{t.name}" for t in truth.values() if corpus.runs in t.path.parents]
    pages.append("/compare?" + "&".join(f"run={t.name}" for t in truth.values() if corpus.runs in t.path.parents))
    found = Findings()
    for page in pages:
        chromium.get(served + page)
        charts_seen: list[dict] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            charts_seen = chromium.execute_script(RENDERED)
            if len(charts_seen) >= len(charts(chromium.page_source)) and all(c["svg"] for c in charts_seen):
                break
            time.sleep(0.3)
        where = page if len(page) < 80 else page[:80] + "..."
        expected = charts(chromium.page_source)
        found.check(len(charts_seen) == len(expected),
                    f"{where}: {len(charts_seen)} charts rendered of the {len(expected)} the page carries")
        for chart in charts_seen:
            found.check(chart["svg"], f"{where} {chart['id']}: plotly drew nothing")
            found.check(chart["xticks"] >= 2 and chart["yticks"] >= 2,
                        f"{where} {chart['id']}: {chart['xticks']} x ticks, {chart['yticks']} y ticks")
            found.check(not overlap(chart["legend"], chart["plot"]), f"{where} {chart['id']}: the legend covers the plot")
        errors = [e["message"] for e in chromium.get_log("browser") if e.get("level") == "SEVERE"]
        found.check(not errors, f"{where}: console errors {errors[:2]}")
    found.assert_none()
