"""promptpo.views.display: the live display of a run, and its log when piped."""

from __future__ import annotations

import io


def test_a_piped_log_keeps_each_line_whole_however_long():
    """Piped to a file (nohup, CI), a tuning phase's line and a candidate's line stay one line each; they were cut
    at the console's 200 columns, so `grep 'Tuning after'` found half a sentence."""
    from rich.console import Console

    from promptpo.engine.state import RunState
    from promptpo.views.display import RunDisplay

    buffer = io.StringIO()
    display = RunDisplay(Console(file=buffer, force_terminal=False, width=200), "gymnasium/Hopper-v5", "manual", 6, 2,
                         False)
    state = RunState()
    tuning = ("Tuning after round 2: 13 constants of r00c2, 22 evaluations (17,485 env steps), stopped because its "
              "evaluations (--tune-evals) were used up: no sample was clearly better than r00c2, which stays as it "
              "was.")
    with display:
        state.last = tuning
        display("tuning", state)
        state.last = "r01c0: ok, mean return 1,080.3 " + "and a long note " * 20
        display("candidate", state)
    lines = buffer.getvalue().splitlines()
    assert tuning in lines
    (candidate,) = [line for line in lines if line.startswith("[round 1/6] r01c0")]
    assert candidate.endswith("LLM calls 0") and len(candidate) > 200
