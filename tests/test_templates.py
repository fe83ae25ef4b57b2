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
from test_prompting import Prompts, crashed, scored

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
    history = [scored(f"r{r:02d}c{i}", r, 10.0 + 10 * r + i) for r in range(6) for i in range(4)]
    from promptpo.envs import load_spec

    small = Prompts(load_spec("gymnasium/CartPole-v1"), 5, 5.0, budget_tokens=3_000).refine(history, history[5])
    assert small.dropped
    assert_headings_stand_alone(small.messages[1].content)


def test_repair_prompt(prompts):
    assert_headings_stand_alone(prompts.repair(crashed("r00c1", 0)).messages[1].content)


def test_glued_heading_is_caught():
    """The check itself: today's bug must fail it."""
    with pytest.raises(AssertionError, match="shares its line"):
        assert_headings_stand_alone("# Earlier candidates\n### Candidate r00c0 (PARENT, BEST)Outcome: ok. Score: 1.\n")


@pytest.fixture(scope="module")
def schedule_task():
    from promptpo.envs import load_spec
    from promptpo.schedule.online import OnlineTask
    from promptpo.schedule.task import ScheduleConfig

    config = ScheduleConfig(env="gymnasium/CartPole-v1", online=True)
    return OnlineTask(config, load_spec(config.env), sandbox=None)


def schedule_candidates():
    from promptpo.candidate import Candidate
    from promptpo.extract import extract
    from promptpo.stats import CurvePoint
    from promptpo.schedule.task import Training

    code = extract("```python\ndef schedule(progress, metrics):\n    return {}\n```", entry="schedule")
    curve = [CurvePoint(1000 * i, 5, 20.0 * i) for i in range(1, 6)]
    good = Candidate("r00c0", 0, 0, "initial", None, 1, code, Training(curve, [], None, 5000, 60.0, None))
    broken = Candidate("r00c1", 0, 1, "initial", None, 2, code,
                       Training(curve, [], "crashed: ZeroDivisionError", 5000, 60.0, None))
    return good, broken


def test_schedule_first_refine_and_repair_prompts(schedule_task):
    good, broken = schedule_candidates()
    prompts = schedule_task.prompts
    assert_headings_stand_alone(prompts.first().messages[1].content)
    refine = prompts.refine([good, broken], good)
    assert refine.parent == "r00c0" and "(PARENT" in refine.messages[1].content
    assert_headings_stand_alone(refine.messages[1].content)
    assert_headings_stand_alone(prompts.repair(broken).messages[1].content)


def test_online_prompt(schedule_task, tmp_path):
    from promptpo.engine.run import Engine
    from promptpo.engine.store import RunStore
    from promptpo.llm import make_backend
    from promptpo.llm.base import GenParams

    class Model:  # what training_metrics reads of a PPO model before its first update
        num_timesteps = 0
        _current_progress_remaining = 1.0
        lr_schedule = staticmethod(lambda p: 3e-4)
        clip_range = 0.2
        ent_coef, vf_coef, max_grad_norm, target_kl, learning_rate = 0.0, 0.5, 0.5, None, 3e-4
        ep_info_buffer = []

        class logger:  # noqa: N801
            name_to_value = {}

        class policy:  # noqa: N801
            class optimizer:  # noqa: N801
                param_groups = [{"lr": 3e-4}]

    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"content": "```json\\n{}\\n```"}\n')
    store = RunStore.create(tmp_path, "online")
    engine = Engine(schedule_task, schedule_task.config, make_backend(f"scripted:{answers}", GenParams()), store)
    schedule_task.decisions = []
    schedule_task.decide(engine, Model(), 0.0)
    prompt = (store.root / "llm" / "0001.prompt.md").read_text()
    assert_headings_stand_alone(prompt.split("## user", 1)[1])
    assert schedule_task.decisions[0]["applied"] == {}
