"""Every prompt template, rendered through the code that sends it: headings stand on their own line.

Jinja's trim_blocks eats the newline after a block tag, so a heading that ends in ``{% endif %}``
runs into the next line (``### Candidate r00c0 (PARENT)Outcome: ok``). This test renders the first,
refine (several candidates, every label), repair, schedule and online prompts and checks each
heading against the text that starts the templates' other lines.
"""

from __future__ import annotations

import re

import pytest

from promptpo.resources import data_dir
from test_prompting import crashed, scored

HEADING = re.compile(r"^#{1,6} \S")
FENCE = re.compile(r"^```")


def body_starts() -> set[str]:
    """The literal text that starts a non-heading line of any template (what could glue onto a heading)."""
    starts = set()
    for path in data_dir("prompts").glob("*.j2"):
        for line in path.read_text().splitlines():
            for segment in re.split(r"\{%.*?%\}", line):  # text after a block tag may start a rendered line
                literal = re.split(r"\{[{#]", segment)[0].strip()
                if len(literal) >= 6 and not literal.startswith(("#", "`", "-")):
                    starts.add(literal.split(".")[0][:24])
    return starts


def headings(text: str) -> list[str]:
    """Heading lines outside code blocks."""
    found, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and HEADING.match(line):
            found.append(line)
    return found


def assert_headings_stand_alone(text: str) -> None:
    starts = body_starts()
    found = headings(text)
    assert found, "the prompt has no headings at all"
    for heading in found:
        glued = [s for s in starts if s in heading]
        assert not glued, f"heading shares its line with {glued}: {heading!r}"
    in_code = False
    for line in text.splitlines():  # no heading starts in the middle of a line either
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            assert not re.search(r"[^#\s]\s*#{2,6} [A-Z]", line), f"a heading starts mid-line: {line!r}"


@pytest.fixture(scope="module")
def prompts():
    from promptpo.envs import load_spec
    from promptpo.prompting import Prompts

    return Prompts(load_spec("gymnasium/CartPole-v1"), episodes=5, act_timeout_s=5)


def test_first_prompt(prompts):
    assert_headings_stand_alone(prompts.first().messages[1].content)


def test_refine_prompt_with_several_candidates(prompts):
    history = [scored("r00c0", 0, 20.0), crashed("r00c1", 0), scored("r01c0", 1, 180.0), scored("r01c1", 1, 90.0)]
    history[3].parent, history[3].kind = "r00c0", "refine"
    text = prompts.refine(history, history[0]).messages[1].content
    assert "(PARENT" in text and "BEST" in text and "latest round" in text
    assert_headings_stand_alone(text)


def test_refine_prompt_of_a_trimmed_history(prompts):
    from promptpo.prompting import Prompts

    history = [scored(f"r{r:02d}c{i}", r, 10.0 + 10 * r + i) for r in range(6) for i in range(4)]
    small = Prompts(prompts.spec, 5, 5.0, budget_tokens=2_500).refine(history, history[5])
    assert small.dropped
    assert_headings_stand_alone(small.messages[1].content)


def test_repair_prompt(prompts):
    assert_headings_stand_alone(prompts.repair(crashed("r00c1", 0)).messages[1].content)


def test_glued_heading_is_caught():
    """The check itself: today's bug must fail it."""
    with pytest.raises(AssertionError, match="shares its line"):
        assert_headings_stand_alone("# Earlier candidates\n### Candidate r00c0 (PARENT, BEST)Outcome: ok. Score: 1.\n")


@pytest.fixture(scope="module")
def schedule_run(tmp_path_factory):
    from promptpo.envs import load_spec
    from promptpo.llm import make_backend
    from promptpo.llm.base import GenParams
    from promptpo.schedule_run import ScheduleConfig, ScheduleRun
    from promptpo.store import RunStore
    from conftest import ANSWERS

    config = ScheduleConfig(env="gymnasium/CartPole-v1", model=f"scripted:{ANSWERS / 'cartpole'}")
    backend = make_backend(config.model, GenParams())
    store = RunStore.create(tmp_path_factory.mktemp("runs"), "templates")
    return ScheduleRun(config, load_spec(config.env), backend, store)


def schedule_candidates():
    from promptpo.extract import extract
    from promptpo.schedule_run import ScheduleCandidate
    from promptpo.stats import CurvePoint

    code = extract("```python\ndef schedule(progress, metrics):\n    return {}\n```", entry="schedule")
    good = ScheduleCandidate("r00c0", 0, 0, "first", None, 1, code,
                             curve=[CurvePoint(1000 * i, 5, 20.0 * i) for i in range(1, 6)], env_steps=5000,
                             auc=60.0)
    broken = ScheduleCandidate("r00c1", 0, 1, "first", None, 2, code, fault="crashed: ZeroDivisionError",
                               env_steps=5000)
    return good, broken


def test_schedule_first_refine_and_repair_prompts(schedule_run):
    good, broken = schedule_candidates()
    kind, messages, _ = schedule_run.prompt(0, 0)
    assert kind == "first"
    assert_headings_stand_alone(messages[1].content)
    schedule_run.history = [good, broken]
    kind, messages, parent = schedule_run.prompt(1, 0)
    assert kind == "refine" and parent == "r00c0" and "(PARENT" in messages[1].content
    assert_headings_stand_alone(messages[1].content)
    repair = schedule_run._messages("schedule_repair.j2", failed=schedule_run.feedback(broken))
    assert_headings_stand_alone(repair[1].content)


def test_online_prompt(schedule_run):
    from promptpo.schedule_run import _bounds_text

    metrics = {"env_steps": 0, "progress": 0.0}
    messages = schedule_run._messages("online.j2", history=["(no decision yet)"], metrics=metrics,
                                      metrics_json="{}", interval=1000, bounds=_bounds_text())
    assert_headings_stand_alone(messages[1].content)
