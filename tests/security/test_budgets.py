"""Budgets hold against answers that would spend past them: a feedback function cannot take a run past its
--max-time (its allowance is what is left of the candidate's, not a fresh one), and the --reflect prompt keeps to
--prompt-budget however large the round's programs are."""

from __future__ import annotations

import json
import time

import promptpo

HANGING_FEEDBACK = '''```python
import time


def act(obs):
    time.sleep(0.1)  # an evaluation of about 8 s: most of the run's time
    return int(obs[2] > 0)


class Feedback:
    def summarize_trajectory(self, observations, actions, rewards, infos):
        while True:
            pass
```'''


def test_a_hanging_feedback_function_stays_within_max_time(tmp_path, backend):
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"content": HANGING_FEEDBACK}) + "\n")
    started = time.monotonic()
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "runs", sandbox=backend,
                               rounds=1, candidates=1, episodes=2, max_time=12, add_to_library=False, gate=False,
                               cascade=0)
    elapsed = time.monotonic() - started
    # the run's own clock stops within the budget's reach (given a fresh allowance the feedback function would take
    # the run to ~20 s); the process's wall time adds the sandbox's start-up and cleanup, slower on a busy machine
    spent = json.loads((result.run_dir / "summary.json").read_text())["wall_time_s"]
    assert spent < 12 + 4 and elapsed < 12 + 10, (spent, elapsed)
    [record] = [json.loads(p.read_text()) for p in (result.run_dir / "candidates").glob("*.json")]
    notes = record["evaluation"].get("notes") or []
    assert record["outcome"] == "ok" and notes and notes[0]["error"]  # the evaluation kept; the notes say why none


def big_program(seed: int) -> str:
    table = ", ".join(str((seed * 7919 + i) % 1000) for i in range(1500))
    return f"```python\nTABLE = [{table}]\n\n\ndef act(obs):\n    return int(obs[2] > 0)\n```"


def test_the_reflect_prompt_keeps_to_the_prompt_budget(tmp_path):
    from promptpo.llm import tokens

    budget = 8000  # tokens, as the run counts them; each program's table alone takes about 3,000
    answers = tmp_path / "answers.jsonl"
    sequence = [big_program(i) for i in range(4)] + ["The table does nothing."] + [big_program(9)] * 4
    answers.write_text("".join(json.dumps({"content": a}) + "\n" for a in sequence))
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "runs", rounds=2,
                               candidates=4, episodes=1, reflect=True, prompt_budget=budget, target=10_000,
                               add_to_library=False, gate=False)
    reflect = [p.read_text() for p in (result.run_dir / "llm").glob("*.prompt.md") if "(reflect)" in p.read_text()]
    assert reflect
    assert tokens.count(reflect[0]) <= budget + 50  # the record's own header lines on top
    assert all(f"r00c{i}" in reflect[0] for i in range(4))  # each shown (summarised when it must be) or named
    assert reflect[0].count("TABLE = [") < 4
