"""Edit answers (promptpo.edits): SEARCH/REPLACE blocks against the parent, applied, evaluated and repaired."""

from __future__ import annotations

import json

import pytest
from conftest import scripted

import promptpo
from promptpo.edits import Edit, EditError, apply, blocks, read_answer
from promptpo.outcome import Outcome

WEAK = "```python\ndef act(obs):\n    x, v, a, w = obs\n    return int(a > 0)\n```"
BASE = "def act(obs):\n    x, v, a, w = obs\n    return int(a > 0)\n"


def edit(search: str, replace: str, prose: str = "The angular velocity matters too.") -> str:
    """One block; its texts are whole lines (a SEARCH text may still start inside a line of the program)."""
    search, replace = (t if t.endswith("\n") else t + "\n" for t in (search, replace))
    return f"{prose}\n\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


GOOD_EDIT = edit("    return int(a > 0)\n", "    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)\n")
GOOD_PROGRAM = "```python\n" + BASE.replace("int(a > 0)", "int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)") + "```"


def test_blocks_apply_in_order_each_to_what_the_one_before_left():
    answer = (edit("x, v, a, w = obs\n", "x, v, a, w = obs\n    k = 0.5\n")
              + "\n```python\n" + edit("int(a > 0)", "int(a + k * w > 0)", prose="") + "```\n")
    found, _ = blocks(answer)
    assert len(found) == 2
    assert apply(BASE, found) == "def act(obs):\n    x, v, a, w = obs\n    k = 0.5\n    return int(a + k * w > 0)\n"


@pytest.mark.parametrize("search, says", [
    ("    return int(b > 0)\n", "occurs 0 times"),
    ("    x, v, a, w = obs\n    return int(a > 0)\n", "occurs 0 times"),  # the first block changed these lines
    ("(", "occurs 2 times"),
    ("def act(obs):\n  x, v, a, w = obs\n", "indentation and all"),
    ("\n", "empty SEARCH"),
])
def test_a_block_that_does_not_match_exactly_once_is_named(search, says):
    first = blocks(edit("x, v, a, w = obs\n", "x, v, a, w = obs  # unpacked\n"))[0][0]
    with pytest.raises(EditError) as err:
        apply(BASE, [first, Edit(search, "pass\n")])
    assert "edit block 2 of 2" in str(err.value) and says in str(err.value)


def test_what_each_mode_takes():
    program = WEAK.replace("a > 0", "a + w > 0")
    blocks_in_full = read_answer(GOOD_EDIT, BASE, "full")  # full: blocks are not applied, and the answer is told so
    assert blocks_in_full.outcome is Outcome.BAD_EDIT and "takes whole programs (--edit full)" in blocks_in_full.message
    assert read_answer(program, BASE, "full").code.endswith("int(a + w > 0)\n")
    diff = read_answer(GOOD_EDIT, BASE, "diff")
    assert diff.ok and diff.form == "edits" and diff.edits == 1 and "0.5 * w" in diff.code
    refused = read_answer(program, BASE, "diff")
    assert refused.outcome is Outcome.BAD_EDIT and "not whole programs" in refused.message
    assert read_answer(program, BASE, "auto").form == "program"
    nothing_named = read_answer(GOOD_EDIT, None, "diff")  # nothing to edit: a whole program was asked for
    assert nothing_named.outcome is Outcome.BAD_EDIT and "names no program to edit" in nothing_named.message
    assert read_answer("no program here", None, "auto").outcome is Outcome.NO_CODE
    broken = read_answer("<<<<<<< SEARCH\nreturn int(a > 0)\n", BASE, "auto")
    assert broken.outcome is Outcome.BAD_EDIT and "no complete block" in broken.message
    syntax = read_answer(edit("int(a > 0)", "int(a > 0"), BASE, "diff")
    assert syntax.outcome is Outcome.SYNTAX_ERROR and syntax.code.endswith("int(a > 0\n")  # the applied result


def run(tmp_path, answers, **options):
    return promptpo.optimize("gymnasium/CartPole-v1", scripted(tmp_path, *answers), out=tmp_path / "runs", candidates=1,
                             episodes=3, **options)


def candidate(run_dir, id_: str) -> dict:
    return json.loads((run_dir / "candidates" / f"{id_}.json").read_text())


def test_a_scripted_diff_answer_is_applied_to_its_parent_and_evaluated(tmp_path):
    result = run(tmp_path, [WEAK, GOOD_EDIT], rounds=2, edit="diff")
    assert result.status == "target_reached" and result.best_candidate == "r01c0"
    record = candidate(result.run_dir, "r01c0")
    assert record["parent"] == "r00c0" and record["answer_form"] == "edits" and record["edit_blocks"] == 1
    code = (result.run_dir / "candidates" / "r01c0.py").read_text()
    assert code == BASE.replace("int(a > 0)", "int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)")
    assert "<<<<<<< SEARCH" in (result.run_dir / "llm" / "0002.response.md").read_text()  # the raw answer stays
    prompt = (result.run_dir / "llm" / "0002.prompt.md").read_text()
    assert "edit blocks against the code of r00c0" in prompt and ">>>>>>> REPLACE" in prompt
    first = (result.run_dir / "llm" / "0001.prompt.md").read_text()
    assert "edit blocks against the code of" not in first  # nothing to edit yet: a whole program


def test_a_search_block_that_does_not_match_gets_a_repair_prompt_naming_it(tmp_path):
    wrong = edit("    return int(a >= 0)\n", "    return 1\n")
    result = run(tmp_path, [WEAK, wrong, GOOD_EDIT], rounds=2, edit="auto")
    failed = candidate(result.run_dir, "r01c0")
    assert failed["outcome"] == "bad_edit" and "edit block 1 of 1" in failed["error"]
    repair = (result.run_dir / "llm" / "0003.prompt.md").read_text()
    assert "edit block 1 of 1 (SEARCH starting 'return int(a >= 0)') occurs 0 times" in repair
    assert "The program your edit blocks were to change (r00c0)" in repair and BASE.strip() in repair
    assert "edit blocks against the code of r00c0" in repair
    fixed = candidate(result.run_dir, "r01c1")
    assert fixed["kind"] == "repair" and fixed["parent"] == "r01c0" and fixed["answer_form"] == "edits"
    assert result.status == "target_reached" and result.best_candidate == "r01c1"


def test_full_mode_prompts_ask_for_whole_programs_and_say_so_to_an_answer_of_blocks(tmp_path):
    result = run(tmp_path, [WEAK, GOOD_EDIT, WEAK], rounds=2, edit="full")
    prompt = (result.run_dir / "llm" / "0002.prompt.md").read_text()
    assert "SEARCH" not in prompt and "the complete program in one ```python block" in prompt
    blocks_answer = candidate(result.run_dir, "r01c0")
    assert blocks_answer["outcome"] == "bad_edit" and "--edit full" in blocks_answer["error"]
    repair = (result.run_dir / "llm" / "0003.prompt.md").read_text()
    assert "takes whole programs (--edit full)" in repair and "complete corrected program" in repair
    assert candidate(result.run_dir, "r01c1")["answer_form"] == "program"
    assert json.loads((result.run_dir / "run.json").read_text())["config"]["edit"] == "full"


def test_by_default_a_refinement_may_answer_with_blocks_or_a_whole_program(tmp_path):
    result = run(tmp_path, [WEAK, GOOD_EDIT], rounds=2)
    assert json.loads((result.run_dir / "run.json").read_text())["config"]["edit"] == "auto"
    prompt = (result.run_dir / "llm" / "0002.prompt.md").read_text()
    assert "either the complete program in one ```python block, or one or more edit blocks" in prompt
    assert candidate(result.run_dir, "r01c0")["answer_form"] == "edits"
    assert result.status == "target_reached" and result.best_candidate == "r01c0"


def test_edit_runs_replay_to_the_same_records(tmp_path):
    answers = [WEAK, edit("int(a > 0)", "int(a + 0.3 * w > 0)"),
               edit("int(a + 0.3 * w > 0)", "int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)")]
    one, two = (run(tmp_path / name, answers, rounds=3, edit="diff", target=10_000) for name in ("a", "b"))
    for id_ in ("r01c0", "r02c0"):
        a, b = candidate(one.run_dir, id_), candidate(two.run_dir, id_)
        assert (one.run_dir / "candidates" / f"{id_}.py").read_text() == (two.run_dir / "candidates" / f"{id_}.py").read_text()
        returns = [[e["episode_return"] for e in c["evaluation"]["episodes"]] for c in (a, b)]
        assert returns[0] == returns[1] and a["answer_form"] == "edits"
    # round 2 edits the best so far: round 1's, whose code already has the 0.3 gain
    assert candidate(one.run_dir, "r02c0")["parent"] == "r01c0"


def test_the_analysis_of_an_answer_appears_in_the_next_prompt_unless_reflection_is_off(tmp_path):
    thought = "The pole angle alone should do: push towards the side it leans to."
    first = f"{thought}\n\n{WEAK}"
    on = run(tmp_path / "on", [first, WEAK], rounds=2)
    assert candidate(on.run_dir, "r00c0")["analysis"] == thought
    prompt = (on.run_dir / "llm" / "0002.prompt.md").read_text()
    assert "Your analysis when you wrote it:" in prompt and thought in prompt
    off = run(tmp_path / "off", [first, WEAK], rounds=2, reflection=False)
    assert thought not in (off.run_dir / "llm" / "0002.prompt.md").read_text()
    assert candidate(off.run_dir, "r00c0")["analysis"] == thought  # recorded either way, for the audit


def test_reflect_asks_what_a_round_taught_and_shows_it_in_later_prompts(tmp_path):
    lesson = "Pushing on the angle alone lets the pole swing up: the angular velocity has to count as well."
    result = run(tmp_path, [WEAK, lesson, WEAK.replace("a > 0", "a + 0.01 * w > 0"), "Nothing new.", GOOD_PROGRAM],
                 rounds=3, reflect=True)
    assert result.status == "target_reached" and result.summary["llm_calls"] == 5
    ask = (result.run_dir / "llm" / "0002.prompt.md").read_text()
    assert "# Round 0 is done" in ask and "### Candidate r00c0" in ask and "Do not write code now" in ask
    later = (result.run_dir / "llm" / "0003.prompt.md").read_text()
    assert "# What you concluded after earlier rounds" in later and f"After round 0:\n```text\n{lesson}" in later
    last = (result.run_dir / "llm" / "0005.prompt.md").read_text()
    assert lesson in last and "After round 1:\n```text\nNothing new." in last
    events = [json.loads(line) for line in (result.run_dir / "events.jsonl").read_text().splitlines()]
    assert [(e["round"], e["text"]) for e in events if e["event"] == "reflection"] == [(0, lesson), (1, "Nothing new.")]
    plain = run(tmp_path / "plain", [WEAK, GOOD_PROGRAM], rounds=2)
    assert plain.summary["llm_calls"] == 2 and "concluded" not in (plain.run_dir / "llm" / "0002.prompt.md").read_text()


def test_a_reflect_run_resumed_after_a_crash_shows_the_same_lessons(tmp_path):
    from conftest import resume_as_if_it_died

    answers = [WEAK, "The angle alone is not enough.", WEAK.replace("a > 0", "a + 0.01 * w > 0"), "Still short.",
               GOOD_PROGRAM]
    whole = run(tmp_path, answers, rounds=3, reflect=True)
    expected = (whole.run_dir / "llm" / "0005.prompt.md").read_text()
    resumed = resume_as_if_it_died(whole.run_dir, ["llm/0004.*", "llm/0005.*", "candidates/r02c0.*"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (whole.run_dir / "llm" / "0005.prompt.md").read_text() == expected
