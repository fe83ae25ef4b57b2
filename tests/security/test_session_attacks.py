"""Red-team (session review): hidden characters beyond bidi in every HTML view, /static path games, and huge or odd
actions on both sandboxes."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from conftest import new_run, run_cli

HIDDEN_CHARS = ("\u200b\u200c\u200d\u200e\u200f\u061c\ufeff\u2060\u2061\u180e\u00ad\u034f\U000e0001\U000e0041"
                "\x7f\x85\x9b\x9d\u2028\u2029\x00\x08\x0b\x0c\x1b\ue000\U000f0000\u202e\u2066")
Y = ('</script><script>window.pwned=1</script><SCRIPT SRC=/static/run.js></SCRIPT>'
     '<img src=x onerror=window.pwned=2><a href="jav&#x09;ascript:window.pwned=3">c</a>'
     '" data-live="/evil" data-charts="x" onmouseover="window.pwned=5" \' onfocus=\'window.pwned=6\' '
     '{"figures":[{"id":"x","data":[]}]} </SCRIPT ><!--<script> ]]> <base href="http://evil.example/"> '
     '<meta http-equiv="refresh" content="0;url=http://evil.example"> <iframe srcdoc="<script>x</script>"> '
     + HIDDEN_CHARS)
YR = repr(Y)

ANSWERS = [
    f"{Y}\n\n```python\nMSG = {YR}\ndef act(obs):\n    raise ValueError(MSG)\n```\n",
    (f"{Y}\n\n```python\n# {Y}\nMSG = {YR}\nprint(MSG)\n\ndef act(obs):\n    x, v, a, w = obs\n"
     "    return int(w > 0)\n\nclass Feedback:\n    def summarize_trajectory(self, observations, actions, "
     "rewards, infos):\n        return MSG\n```\n"),
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("session")
    answers = base / "answers.jsonl"
    answers.write_text("".join(json.dumps({"content": a}) + "\n" for a in ANSWERS))
    out = base / "runs"
    run = new_run(out, "optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "1",
                  "--candidates", "2", "--episodes", "2", "--feedback-fn", "on", "--sandbox", "process")
    records = " ".join(p.read_text() for p in (run / "candidates").glob("*.json"))
    assert "window.pwned" in records
    return out, run


def _pages(out: Path, run: Path, tmp_path: Path) -> dict[str, str]:
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    client = TestClient(make_app(out), base_url="http://127.0.0.1")
    report = tmp_path / "x.html"
    proc = run_cli("report", run.name, "--out", str(out), "-o", str(report))
    assert proc.returncode == 0, proc.stderr[-2000:]
    pages = {"report": report.read_text()}
    for path in ["/", "/live/runs", f"/run/{run.name}", f"/run/{run.name}/live", f"/compare?run={run.name}",
                 *[f"/run/{run.name}/candidate/{p.stem}" for p in sorted((run / "candidates").glob("*.json"))]]:
        response = client.get(path)
        assert response.status_code == 200, path
        pages[path] = response.text
    return pages


def test_no_hidden_character_reaches_any_html_view(hostile, tmp_path):
    out, run = hostile
    pages = _pages(out, run, tmp_path)
    bad = {}
    for where, page in pages.items():
        if where == "report":  # the inline plotly.js is the server's own text
            page = re.sub(r"<script(?![^>]*application/json)[^>]*>.*?</script>", "", page, flags=re.DOTALL)
        found = sorted({hex(ord(c)) for c in page if c not in "\n\t\r"
                        and unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}})
        if found:
            bad[where] = found
    assert not bad, bad


def _tags(page: str) -> list[tuple[str, dict]]:
    from html.parser import HTMLParser

    found = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    parser = Tags(convert_charrefs=True)
    parser.feed(page)
    return found


def test_no_model_tag_or_attribute_in_any_html_view(hostile, tmp_path):
    out, run = hostile
    for where, page in _pages(out, run, tmp_path).items():
        tags = _tags(page)
        for tag, attrs in tags:
            assert tag not in {"img", "iframe", "base", "svg"}, (where, tag, attrs)
            assert not (tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh"), (where, attrs)
            assert not any(k.startswith("on") for k in attrs), (where, tag, attrs)
            assert "javascript" not in (attrs.get("href") or "").lower().replace("\t", ""), (where, attrs)
            if tag == "script":
                assert attrs.get("type") == "application/json" or (attrs.get("src") or "").startswith("/static/") \
                    or where == "report", (where, attrs)
            assert not any("evil" in (v or "") or "pwned" in (v or "") for v in attrs.values()), (where, tag, attrs)
        for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.DOTALL):
            assert "<" not in block and "window.pwned" not in block or "\\u003c" in block, (where, block[:200])
            json.loads(block)  # still one JSON value, nothing appended


def test_report_csp_allows_only_its_own_scripts(hostile, tmp_path):
    out, run = hostile
    page = _pages(out, run, tmp_path)["report"]
    assert page.lower().count('http-equiv="content-security-policy"') == 1
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page, re.I).group(1)
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0] and "evil" not in csp


STATIC_PROBES = ["../app.py", "..%2Fapp.py", "%2e%2e/app.py", "%2e%2e%2fapp.py", "..%252Fapp.py", "run.js/",
                 "run.js%00", "run.js%20", "RUN.JS", "./run.js", "base.html", "run.html", "__init__.py",
                 "%2e%2e", "charts.js/../run.html", "..\\app.py", "..%5capp.py", "run.js?x=../app.py#",
                 "....//app.py", "/etc/passwd", "%2Fetc%2Fpasswd", "plotly.min.js/../../app.py", "keys", "__class__",
                 "get", "items"]


@pytest.mark.parametrize("name", STATIC_PROBES)
def test_static_serves_only_its_files(tmp_path, name):
    from starlette.testclient import TestClient

    from promptpo.ui.app import SCRIPTS, make_app

    client = TestClient(make_app(tmp_path), base_url="http://127.0.0.1")
    response = client.get(f"/static/{name}")
    if response.status_code == 200:
        own = {p.read_bytes() for p in SCRIPTS.values()}
        from promptpo.views.charts import plotly_js_path
        own.add(plotly_js_path().read_bytes())
        assert response.content in own, (name, response.text[:200])
        assert response.headers["content-type"].startswith("text/javascript")


def test_static_serves_exactly_four_names(tmp_path):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    client = TestClient(make_app(tmp_path), base_url="http://127.0.0.1")
    for name in ("charts.js", "run.js", "runs.js", "plotly.min.js"):
        assert client.get(f"/static/{name}").status_code == 200, name


# --- huge or odd actions -----------------------------------------------------------------------------------------

CONTINUOUS = {
    "neg_1e308": "np.full(4, -1e308)",
    "alternating": "np.array([1e308, -1e308, 1e308, -1e308])",
    "float32_max": "np.full(4, np.finfo(np.float32).max, dtype=np.float32)",
    "float64_max": "np.full(4, np.finfo(np.float64).max)",
    "subnormal": "np.full(4, 5e-324)",
    "neg_subnormal": "np.full(4, -np.finfo(np.float64).smallest_subnormal)",
    "bigints": "[2**64, -2**70, 2**63, 10**400]",
    "bigint_scalar": "2**100",
    "bool_list": "[True, False, True, False]",
    "longdouble": "np.full(4, np.finfo(np.longdouble).max, dtype=np.longdouble)",
    "object_array": "np.array([2**80, 1, 1, 1], dtype=object)",
}


def _action_run(tmp_path, action: str, sandbox: str):
    answers = tmp_path / "answers.jsonl"
    poison = f"poison\n\n```python\nimport numpy as np\n\ndef act(obs):\n    return {action}\n```\n"
    fine = ("fine\n\n```python\nimport numpy as np\n\ndef act(obs):\n    a = np.zeros(4)\n"
            "    a[:3] = np.clip(10 * (obs[36:39] - obs[0:3]), -1, 1)\n    return a\n```\n")
    answers.write_text(json.dumps({"content": poison}) + "\n" + json.dumps({"content": fine}) + "\n")
    out = tmp_path / "runs"
    proc = run_cli("optimize", "metaworld/reach", "--model", f"scripted:{answers}", "--rounds", "1", "--candidates",
                   "2", "--episodes", "2", "--out", str(out), "--no-library", "--sandbox", sandbox)
    runs = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
    return out, (runs[0] if runs else None), proc


def _all_json_valid(run: Path):
    for path in run.rglob("*.json"):
        json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{path}: {c}"))
    for path in run.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            if line.strip():
                json.loads(line, parse_constant=lambda c: pytest.fail(f"{path}: {c}"))


@pytest.mark.parametrize("sandbox", ["process", "docker"])
@pytest.mark.parametrize("kind", list(CONTINUOUS))
def test_odd_continuous_actions_do_not_end_the_run(tmp_path, kind, sandbox):
    out, run, proc = _action_run(tmp_path, CONTINUOUS[kind], sandbox)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] != "failed", summary
    _all_json_valid(run)
    for view in (["show", run.name], ["runs"]):
        assert run_cli(*view, "--out", str(out)).returncode == 0, view


DISCRETE = {"bigint": "2**70", "neg_bigint": "-2**64", "np_uint64_max": "np.uint64(2**64 - 1)",
            "float_big": "1e308", "list_of_bigints": "[2**65]"}


@pytest.mark.parametrize("sandbox", ["process", "docker"])
@pytest.mark.parametrize("kind", list(DISCRETE))
def test_odd_discrete_actions_do_not_end_the_run(tmp_path, kind, sandbox):
    answers = tmp_path / "answers.jsonl"
    poison = f"p\n\n```python\nimport numpy as np\n\ndef act(obs):\n    return {DISCRETE[kind]}\n```\n"
    fine = "f\n\n```python\ndef act(obs):\n    return int(obs[2] + obs[3] > 0)\n```\n"
    answers.write_text(json.dumps({"content": poison}) + "\n" + json.dumps({"content": fine}) + "\n")
    out = tmp_path / "runs"
    run = new_run(out, "optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "1",
                  "--candidates", "2", "--episodes", "2", "--no-library", "--sandbox", sandbox)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] != "failed", summary
    _all_json_valid(run)
