"""Taking code out of an answer: code blocks, syntax errors, entry points, static findings."""

from __future__ import annotations

import textwrap

from promptpo.extract import extract
from promptpo.outcome import Outcome


def test_takes_the_last_block_that_defines_act():
    answer = ("Plan first:\n```python\nx = 1\n```\nThen the program:\n```python\nimport numpy as np\n\n"
              "class Policy:\n    def act(self, obs):\n        return 0\n```\n")
    got = extract(answer)
    assert got.ok and got.entry == "Policy" and got.code.startswith("import numpy")


def test_unlabelled_block_and_bare_code():
    assert extract("```\ndef act(obs):\n    return 1\n```").entry == "act"
    assert extract("def act(obs):\n    return 1\n").entry == "act"


def test_failures_explain_themselves():
    assert extract("").outcome is Outcome.NO_CODE
    assert "no ```python code block" in extract("I would push left.").message
    broken = extract("```python\ndef act(obs)\n    return 1\n```")
    assert broken.outcome is Outcome.SYNTAX_ERROR and "line 1" in broken.message
    missing = extract("```python\ndef policy(obs):\n    return 1\n```")
    assert missing.outcome is Outcome.NO_ENTRY_POINT


def test_static_findings():
    code = ("```python\nimport os\nimport numpy as np\nfrom subprocess import run\nSTATE = {}\n"
            "def act(obs):\n    global STATE\n    eval('1')\n    open('/etc/passwd')\n"
            "    return obs.__class__\n```")
    got = extract(code)
    assert got.outcome is Outcome.REFUSED  # the gate refuses it; the findings are still recorded for the audit
    details = [(f.kind, f.line) for f in got.findings]
    assert ("import", 1) in details and ("import", 3) in details
    assert ("global_state", 6) in details
    assert ("call", 7) in details and ("call", 8) in details
    assert ("dunder", 9) in details
    assert not any(f.line == 2 for f in got.findings)  # numpy is allowed


def test_only_module_level_containers_a_program_changes_are_flagged_as_state():
    """A real model's `DIRS = [...]` and `STEP = {...}` tables, only read, were flagged as shared mutable state, and
    `getattr(self, "t", 0)`, which prompts call fine, as a risky call."""
    import ast

    from promptpo.extract import findings

    code = textwrap.dedent("""
        import numpy as np
        DIRS = [(1, 0), (0, 1)]
        STEP = {0: 1}
        SEEN = {}
        HIST = []
        BUF = np.zeros(3)
        GRID = [[0] * 3 for _ in range(3)]
        class Policy:
            def reset(self):
                self.t = getattr(self, "t", 0)
                HIST.append(1)
            def act(self, obs):
                SEEN[1] = 2
                np.copyto(BUF, obs[:3])
                GRID[0][1] += 1
                if hasattr(self, "x"):
                    getattr(obs, "_y")
                return DIRS[0][0] + STEP[0]
    """)
    found = findings(ast.parse(code))
    state = {f.line for f in found if f.kind == "global_state"}
    assert state == {5, 6, 7, 8}  # SEEN, HIST, BUF, GRID: changed in place; DIRS and STEP only read
    assert [(f.line, f.detail) for f in found if f.kind == "call"] == [(18, "calls getattr()")]  # a private name


def test_an_unclosed_block_is_read_to_the_end_of_the_answer():
    whole = extract("Plan: go.\n```python\ndef act(obs):\n    return 1\n")
    assert whole.ok and "return 1" in whole.code
    cut = extract("```python\ndef act(obs):\n    return (1 +\n")  # ran out of tokens mid-line
    assert cut.outcome.value == "syntax_error"


def test_fences_count_only_at_the_start_of_a_line():
    answer = ("My last answer was never closed with ```, so the program was lost. This time:\n\n"
              "```python\ndef act(obs):\n    return 1\n```\n")
    extracted = extract(answer)
    assert extracted.ok and extracted.code.strip() == "def act(obs):\n    return 1"
    indented = extract("   ```python\ndef act(obs):\n    return 0\n   ```\n")  # up to three spaces
    assert indented.ok and "return 0" in indented.code
    inline = extract("Write `x = 1` then ```python def act``` inline; no block here.")
    assert not inline.ok and "no ```python code block" in inline.message


CONCURRENT_PARSES = r'''
import sys, threading
from promptpo.extract import check_program, python_tree

sys.setswitchinterval(1e-6)


class Cycle:  # garbage whose finalizer runs Python code mid-parse, so the threads switch inside the AST conversion
    def __del__(self):
        [i for i in range(3)]


TABLE = "T = [" + ", ".join(map(str, range(1000))) + "]\n\ndef act(obs):\n    return int(((obs[2] + 1) * 2) > 3)\n"
errors, outcomes = [], []


def wave_slot():
    for _ in range(150):
        for c in [Cycle() for _ in range(5)]:
            c.me = c
        try:
            outcomes.append(check_program(TABLE, "policy").outcome.value)
            outcomes.append(python_tree(TABLE) is not None)
        except SystemError as err:
            errors.append(repr(err))


threads = [threading.Thread(target=wave_slot) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(errors), errors[:1], sorted(map(str, set(outcomes))))  # sorted: a set prints in its hash seed's order
'''


def test_threads_parsing_at_once_do_not_break_the_ast_conversion():
    """Wave slots read answers in threads; CPython 3.11's AST conversion kept its depth in interpreter-wide state,
    so two parses at once raised SystemError ('AST constructor recursion depth mismatch') and ended a CI run.
    In a fresh interpreter, 4 threads × 150 answers with finalizers switching threads mid-parse."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", CONCURRENT_PARSES], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "0 [] ['True', 'ok']", out.stdout
