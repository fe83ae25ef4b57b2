"""Red-team: a hostile model's strings (answer text, exception messages, Feedback notes, printed output, raw
control characters in its source) reach every view of its run folder: `promptpo ui` (TestClient and Chromium),
`promptpo report`, and the CLI views (runs, show, diff, audit, compare, library list, dataset export). The
defender holds when no script of the model's runs, the CSP holds, HTML shows as text and terminals receive no
control sequences."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import chromium_session, new_run, run_cli

ESC = "\x1b"
X = ('</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
     '<a href="javascript:window.pwned=3">clickme</a><svg onload="window.pwned=4"></svg>'
     '\u2028\u2029 \x1b[31mRED\x1b[0m \x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ '
     '\u202eevil\u202c \rOVERWRITE {{7*7}} ${7*7} <!-- ')
XR = repr(X)
# Raw control characters inside the program's source (legal in a Python string literal and in comments).
RAW = "\x1b[2J\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\u202e\r"

ANSWERS = {
    # r00c0: act raises with the hostile message (crashed; error string recorded)
    "001.md": f"{X}\n\n```python\nMSG = {XR}\ndef act(obs):\n    raise ValueError(MSG)\n```\n",
    # r00c1: raises at import, after printing it
    "002.md": f"{X}\n\n```python\nMSG = {XR}\nprint(MSG)\nraise RuntimeError(MSG)\n```\n",
    # r00c2: a working (weak) policy whose Feedback notes are hostile, with raw control characters in its source
    "003.md": (f"{X}\n\n```python\n# {RAW}\nMSG = {XR} + '{RAW}'\n\ndef act(obs):\n    x, v, a, w = obs\n"
               "    return int(w > 0)\n\nclass Feedback:\n    def summarize_trajectory(self, observations, actions, "
               "rewards, infos):\n        return MSG\n```\n"),
    # r01c0: a refinement that raises a huge deeply nested message
    "004.md": (f"{X}\n\n```python\nimport json\nMSG = {XR}\n\ndef act(obs):\n"
               "    raise KeyError(json.dumps(eval('[' * 900 + ']' * 900)) + MSG * 2000)\n```\n"),
}


@pytest.fixture(scope="module", params=["process", "docker"])
def hostile(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("hostile")
    answers = base / "answers"
    answers.mkdir()
    for name, text in ANSWERS.items():
        (answers / name).write_text(text)
    out = base / "runs"
    run = new_run(out, "optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "2",
                  "--candidates", "3", "--feedback-fn", "on", "--episodes", "2", "--sandbox", request.param)
    # the strings reached the records (else the views are not under attack)
    records = " ".join(p.read_text() for p in (run / "candidates").glob("*.json"))
    assert "window.pwned" in records and "\\u001b" in records
    return out, run


def _no_script_injection(page: str, where: str):
    for needle in ("<script>window.pwned", "<img src=x", "<svg onload", '<a href="javascript:'):
        assert needle not in page, (where, needle, page[max(0, page.find(needle) - 200):page.find(needle) + 200])
    for script in re.findall(r"<script[^>]*>(.*?)</script>", page, re.DOTALL):
        # inline JSON/JS: the model's text must not end the element nor carry raw line separators
        assert "window.pwned" not in script or "<\\/script" in script or "\\u003c" in script, (where, script[:300])
        assert "\u2028" not in script and "\u2029" not in script and "<!--" not in script, (where, script[:300])


def test_ui_pages_escape_every_model_string(hostile):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    out, run = hostile
    client = TestClient(make_app(out), base_url="http://127.0.0.1")
    paths = ["/", "/live/runs", f"/run/{run.name}", f"/run/{run.name}/live", f"/compare?run={run.name}"]
    paths += [f"/run/{run.name}/candidate/{p.stem}" for p in sorted((run / "candidates").glob("*.json"))]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        _no_script_injection(response.text, path)
        if "text/html" in response.headers.get("content-type", ""):
            policy = response.headers.get("content-security-policy", "")
            assert "script-src" in policy or "default-src 'self'" in policy, (path, policy)
    # served files (answers, candidates) must not be served as HTML
    for rel in [str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()][:200]:
        response = client.get(f"/run/{run.name}/files/{rel}")
        if response.status_code == 200:
            kind = response.headers.get("content-type", "")
            assert "html" not in kind and "svg" not in kind, (rel, kind)


def test_ui_csp_forbids_inline_script(hostile):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    out, run = hostile
    client = TestClient(make_app(out), base_url="http://127.0.0.1")
    for path in ("/", f"/run/{run.name}", f"/compare?run={run.name}"):
        policy = client.get(path).headers["content-security-policy"]
        script = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
        assert "unsafe-inline" not in script, (path, policy)


def test_report_escapes_every_model_string(hostile):
    out, run = hostile
    report = out.parent / "report.html"
    proc = run_cli("report", run.name, "--out", str(out), "-o", str(report))
    assert proc.returncode == 0, proc.stderr[-2000:]
    _no_script_injection(report.read_text(), "report")


def test_no_model_script_runs_in_chromium(hostile, tmp_path):
    from web import serve

    out, run = hostile
    report = tmp_path / "report.html"
    assert run_cli("report", run.name, "--out", str(out), "-o", str(report)).returncode == 0
    session = chromium_session(log=("browser",))
    ui, port = serve(out)
    try:
        pages = [f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/run/{run.name}",
                 f"http://127.0.0.1:{port}/compare?run={run.name}", report.as_uri()]
        pages += [f"http://127.0.0.1:{port}/run/{run.name}/candidate/{p.stem}"
                  for p in sorted((run / "candidates").glob("*.json"))]
        for page in pages:
            session.get(page)
            time.sleep(0.5)
            # hover every plotted point: hover text is model-influenced
            session.execute_script("""
                document.querySelectorAll('.scatterlayer .point').forEach(p => {
                  p.dispatchEvent(new MouseEvent('mousemove', {bubbles: true})); });
                document.querySelectorAll('a').forEach(a => { if (a.href.startsWith('javascript:')) a.click(); });""")
            time.sleep(0.2)
            assert session.execute_script("return window.pwned") is None, page
    finally:
        session.quit()
        ui.kill()
        ui.wait()


@pytest.mark.parametrize("view", ["runs", "show", "diff", "audit", "compare", "library"])
def test_cli_views_send_no_control_sequences(hostile, view):
    out, run = hostile
    args = {"runs": ["runs", "--out", str(out)], "show": ["show", run.name, "--out", str(out)],
            "diff": ["diff", run.name, "r00c0", "r00c2", "--out", str(out)],
            "audit": ["audit", run.name, "--out", str(out)], "compare": ["compare", run.name, "--out", str(out)],
            "library": ["library", "list"]}[view]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for stream in (proc.stdout, proc.stderr):
        for bad in (ESC, "\x07", "\u202e", "\r"):
            assert bad not in stream, (view, repr(bad), stream[max(0, stream.find(bad) - 200):stream.find(bad) + 100])


def test_dataset_export_keeps_the_strings_as_data(hostile, tmp_path):
    out, run = hostile
    proc = run_cli("dataset", "export", "--help")
    assert proc.returncode == 0
    dest = tmp_path / "ds.jsonl"
    proc = run_cli("dataset", "export", run.name, "--out", str(out), "-o", str(dest))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in dest.read_text().splitlines()]
    assert rows and any("window.pwned" in json.dumps(r) for r in rows)  # kept as data, parseable
    for stream in (proc.stdout, proc.stderr):
        assert ESC not in stream and "\u202e" not in stream


# --- 3. records poisoning: the numbers a program makes the host record -------------------------------------------

def _poison_run(tmp_path, action: str, sandbox: str = "process") -> tuple[Path, Path, object]:
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "001.md").write_text(f"poison\n\n```python\nimport numpy as np\n\ndef act(obs):\n"
                                    f"    return np.full(4, {action})\n```\n")
    (answers / "002.md").write_text("fine\n\n```python\nimport numpy as np\n\ndef act(obs):\n    a = np.zeros(4)\n"
                                    "    a[:3] = np.clip(10 * (obs[36:39] - obs[0:3]), -1, 1)\n    return a\n```\n")
    out = tmp_path / "runs"
    proc = run_cli("optimize", "metaworld/reach", "--model", f"scripted:{answers}", "--rounds", "2", "--candidates",
                   "1", "--episodes", "2", "--out", str(out), "--no-library", "--sandbox", sandbox)
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return out, run, proc


@pytest.mark.parametrize("action", ["np.nan", "np.inf", "-np.inf"])
def test_non_finite_actions_are_refused_and_the_views_rank_the_rest(tmp_path, action):
    out, run, proc = _poison_run(tmp_path, action)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] != "failed", summary
    assert "np.clip" in (run / "candidates" / f"{summary['best_candidate']}.py").read_text(), summary
    for view in (["show", run.name], ["audit", run.name], ["compare", run.name], ["runs"]):
        assert run_cli(*view, "--out", str(out)).returncode == 0, view


@pytest.mark.parametrize("action,sandbox", [("1e308", "process"), ("1e200", "process"), ("1e308", "docker")])
def test_huge_finite_actions_do_not_end_the_run(tmp_path, action, sandbox):
    out, run, proc = _poison_run(tmp_path, action, sandbox)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] != "failed", summary
    assert len(list((run / "candidates").glob("*.json"))) == 2


# --- 4. resource exhaustion of the views -----------------------------------------------------------------------

BOMBS = {
    "001.md": "err bomb\n\n```python\ndef act(obs):\n    raise ValueError('<E>' * 4_000_000)\n```\n",
    "002.md": ("nested notes\n\n```python\ndef act(obs):\n    return int(obs[2] > 0)\n\nclass Feedback:\n"
               "    def summarize_trajectory(self, o, a, r, i):\n        x = []\n        for _ in range(50000):\n"
               "            x = [x]\n        return x\n```\n"),
    "003.md": "print bomb\n\n```python\nprint('<P>' * 20_000_000)\ndef act(obs):\n    return int(obs[2] > 0)\n```\n",
    "004.md": ("note bomb\n\n```python\ndef act(obs):\n    return int(obs[2] + obs[3] > 0)\n\nclass Feedback:\n"
               "    def summarize_trajectory(self, o, a, r, i):\n        return '<N>' * 4_000_000\n```\n"),
    "005.md": "<b>x</b>" + "A" * 10_000_000 + "\n",
}


def test_giant_strings_leave_every_view_bounded(tmp_path):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    answers = tmp_path / "answers"
    answers.mkdir()
    for name, text in BOMBS.items():
        (answers / name).write_text(text)
    out = tmp_path / "runs"
    run = new_run(out, "optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "5",
                  "--candidates", "1", "--feedback-fn", "on", "--episodes", "2", "--no-library")
    assert sum(p.stat().st_size for p in (run / "candidates").iterdir()) < 2_000_000
    for view in (["runs"], ["show", run.name], ["audit", run.name], ["compare", run.name],
                 ["diff", run.name, "r00c0", "r01c1"]):
        started = time.monotonic()
        proc = run_cli(*view, "--out", str(out))
        assert proc.returncode == 0 and len(proc.stdout) < 200_000, view
        assert time.monotonic() - started < 30, view
    report = tmp_path / "report.html"
    assert run_cli("report", run.name, "--out", str(out), "-o", str(report)).returncode == 0
    # plotly.js is inlined (~4.6 MB); the model's strings must not add megabytes on top
    assert report.stat().st_size < 6_000_000 and "A" * 100_000 not in report.read_text()
    client = TestClient(make_app(out), base_url="http://127.0.0.1")
    for path in ["/", f"/run/{run.name}", f"/compare?run={run.name}"] + \
            [f"/run/{run.name}/candidate/{p.stem}" for p in sorted((run / "candidates").glob("*.json"))]:
        started = time.monotonic()
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) < 2_000_000, path
        assert time.monotonic() - started < 10, path
    dest = tmp_path / "ds.jsonl"
    assert run_cli("dataset", "export", run.name, "--out", str(out), "-o", str(dest)).returncode == 0


def test_many_candidates_keep_the_views_answering(tmp_path):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    answers = tmp_path / "answers"
    answers.mkdir()
    for i in range(120):
        (answers / f"{i + 1:03d}.md").write_text(f"try {i} <i>\u202e</i>\n\n```python\ndef act(obs):\n"
                                                 f"    return int(obs[2] * {i} + obs[3] > 0)\n```\n")
    out = tmp_path / "runs"
    run = new_run(out, "optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "12",
                  "--candidates", "10", "--episodes", "1", "--no-library", "--target", "100000")
    assert len(list((run / "candidates").glob("*.json"))) >= 100
    client = TestClient(make_app(out), base_url="http://127.0.0.1")
    for path in ("/", f"/run/{run.name}", f"/compare?run={run.name}"):
        started = time.monotonic()
        assert client.get(path).status_code == 200, path
        assert time.monotonic() - started < 10, path
    for view in (["show", run.name], ["audit", run.name], ["runs"]):
        started = time.monotonic()
        assert run_cli(*view, "--out", str(out)).returncode == 0, view
        assert time.monotonic() - started < 30, view


# --- more variants: edit blocks, the live console, candidate ids in URLs ----------------------------------------

CTRL = "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07\x1b[2J\x1b[H\u202e\r"


def _all_views_hold(out: Path, run: Path, tmp_path: Path):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    client = TestClient(make_app(out), base_url="http://127.0.0.1")
    for path in ["/", f"/run/{run.name}", f"/compare?run={run.name}"] + \
            [f"/run/{run.name}/candidate/{p.stem}" for p in sorted((run / "candidates").glob("*.json"))]:
        response = client.get(path)
        assert response.status_code == 200, path
        _no_script_injection(response.text, path)
    report = tmp_path / "report.html"
    assert run_cli("report", run.name, "--out", str(out), "-o", str(report)).returncode == 0
    _no_script_injection(report.read_text(), "report")
    ids = sorted(p.stem for p in (run / "candidates").glob("*.json"))
    for view in (["runs"], ["show", run.name], ["audit", run.name], ["compare", run.name],
                 ["diff", run.name, ids[0], ids[-1]]):
        proc = run_cli(*view, "--out", str(out))
        assert proc.returncode == 0, (view, proc.stderr[-1000:])
        for bad in (ESC, "\x07", "\u202e", "\r"):
            assert bad not in proc.stdout + proc.stderr, (view, repr(bad))


def test_a_hostile_edit_block_is_quoted_as_text(tmp_path):
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "001.md").write_text("start\n\n```python\ndef act(obs):\n    return int(obs[2] > 0)\n```\n")
    block = f"<<<<<<< SEARCH\n{X}{CTRL}\n=======\n{X}\n>>>>>>> REPLACE\n"
    for i in range(2, 5):
        (answers / f"{i:03d}.md").write_text(f"{X}\n\n{block}")
    out = tmp_path / "runs"
    run = new_run(out, "optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "3",
                  "--candidates", "1", "--episodes", "1", "--no-library", "--edit", "diff")
    records = " ".join(p.read_text() for p in (run / "candidates").glob("*.json"))
    assert "bad_edit" in records
    _all_views_hold(out, run, tmp_path)


def test_the_live_console_prints_no_control_sequences(tmp_path):
    """`promptpo optimize` prints each candidate's outcome (its error's start) as it lands."""
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "001.md").write_text(f"x\n\n```python\nMSG = {CTRL!r}\ndef act(obs):\n    raise ValueError(MSG)\n```\n")
    (answers / "002.md").write_text(f"x\n\n```python\nMSG = {CTRL!r}\nraise SystemExit(MSG)\n```\n")
    (answers / "003.md").write_text(f"x\n\n```python\nMSG = {CTRL!r}\nclass {('E' * 10)}(Exception):\n    pass\n"
                                    "def act(obs):\n    raise E" + "E" * 9 + "(MSG * 3)\n```\n")
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "2",
                   "--candidates", "1", "--episodes", "1", "--no-library", "--out", str(tmp_path / "runs"))
    for bad in (ESC, "\x07", "\u202e", "\r"):
        assert bad not in proc.stdout + proc.stderr, (repr(bad), proc.stdout[-2000:])
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    _all_views_hold(tmp_path / "runs", run, tmp_path)


@pytest.mark.parametrize("name", ["r00c0/../../../../etc/passwd", "<script>alert(1)</script>", "%3Cscript%3E",
                                  "javascript:alert(1)", "r00c0\u2028"])
def test_hostile_candidate_and_file_names_in_urls(hostile, name):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    out, run = hostile
    client = TestClient(make_app(out), base_url="http://127.0.0.1")
    for path in (f"/run/{run.name}/candidate/{name}", f"/run/{run.name}/files/{name}", f"/compare?run={name}"):
        response = client.get(path)
        assert response.status_code in (200, 400, 404), path
        assert "<script>alert" not in response.text and "root:x:0" not in response.text, path


def test_show_candidate_and_library_entry_print_no_control_sequences(tmp_path):
    """A program that reaches its target joins the library with its source (hostile HTML in a comment, escapes in a
    string; raw control characters in source are refused by the gate, see the records of the hostile run);
    `show RUN CANDIDATE`, `library list`, `library show` and `export` print it."""
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "001.md").write_text(
        f"{X}{CTRL}\n\n```python\n# </script><script>window.pwned=5</script>\nMSG = {(X + CTRL)!r}\n\ndef act(obs):\n    x, v, a, w = obs\n"
        "    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)\n```\n")
    out = tmp_path / "runs"
    run = new_run(out, "optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "1",
                  "--candidates", "1", "--episodes", "2")
    assert json.loads((run / "summary.json").read_text())["target_reached"]
    listing = run_cli("library", "list")
    assert listing.returncode == 0
    name = next(line.split()[1] for line in listing.stdout.splitlines() if "CartPole" in line and "│" in line)
    for view in (["show", run.name, "r00c0", "--out", str(out)], ["library", "list"], ["library", "show", name],
                 ["export", run.name, "--out", str(out), "-o", str(tmp_path / "best.py")]):
        proc = run_cli(*view)
        assert proc.returncode == 0, (view, proc.stderr[-1000:])
        for bad in (ESC, "\x07", "\u202e", "\r"):
            assert bad not in proc.stdout + proc.stderr, (view, repr(bad), proc.stdout[-1500:])
    _all_views_hold(out, run, tmp_path)


BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def test_html_views_neutralise_bidi_controls(hostile, tmp_path):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    out, run = hostile
    client = TestClient(make_app(out), base_url="http://127.0.0.1")
    report = tmp_path / "report.html"
    assert run_cli("report", run.name, "--out", str(out), "-o", str(report)).returncode == 0
    pages = {"report": report.read_text()}
    pages |= {p.stem: client.get(f"/run/{run.name}/candidate/{p.stem}").text
              for p in sorted((run / "candidates").glob("*.json"))}
    pages |= {path: client.get(path).text for path in ("/", "/live/runs", f"/run/{run.name}", f"/run/{run.name}/live",
                                                       f"/compare?run={run.name}")}
    shown = {where: [hex(ord(c)) for c in BIDI if c in page] for where, page in pages.items()}
    assert not any(shown.values()), shown
