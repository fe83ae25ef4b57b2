"""Prompt rendering: strict templates, what the refinement prompt carries, and the history budget."""

from __future__ import annotations

import re

import jinja2
import pytest

from promptpo import gate
from promptpo.candidate import Candidate
from promptpo.policy.digest import EpisodeDigest, Track
from promptpo.envs import load_spec
from promptpo.policy.evaluation import EpisodeResult, Evaluation, Fault
from promptpo.extract import extract
from promptpo.outcome import Outcome
from promptpo.policy.config import OptimizeConfig
from promptpo.errors import ConfigError
from promptpo.isolation.base import Limits
from promptpo.policy.task import policy_prompts


def Prompts(spec, episodes, act_timeout_s, budget_tokens=12000):  # noqa: N802 - reads like the old class
    config = OptimizeConfig(env=spec.id, episodes=episodes, prompt_budget=budget_tokens,
                            limits=Limits(act_timeout_s=act_timeout_s))
    return policy_prompts(config, spec)


@pytest.fixture(scope="module")
def spec():
    return load_spec("gymnasium/CartPole-v1")


def scored(id_: str, round_: int, mean: float) -> Candidate:
    digest = EpisodeDigest(fields={"pole_angle": Track(0.01, 0.2, -0.01, 3, 0.2, 9, )}, reward_first=1, reward_last=1,
                           reward_max=1, action_counts={0: 4, 1: 5})
    episodes = [EpisodeResult(i, 100 + i, {}, mean, int(mean), None, None, True, False, True, digest) for i in range(2)]
    code = f"def act(obs):\n    return 0  # candidate {id_}\n" + "# padding\n" * 40
    c = Candidate(id_, round_, int(id_[-1]), "refine", None, 1, extract(f"```python\n{code}```"))
    c.evaluation = Evaluation(Outcome.OK, episodes, 2 * int(mean), 0.1)
    return c


def crashed(id_: str, round_: int) -> Candidate:
    c = Candidate(id_, round_, 0, "refine", None, 1, extract("```python\ndef act(obs):\n    return obs.foo\n```"))
    c.evaluation = Evaluation(Outcome.CRASHED, [], 0, 0.1, Fault(Outcome.CRASHED, "AttributeError: foo",
                                                                 "Traceback ...\nAttributeError: foo", 0, 0))
    return c


def test_templates_fail_loudly_on_a_missing_variable(spec):
    prompts = Prompts(spec, episodes=5, act_timeout_s=5)
    with pytest.raises(jinja2.UndefinedError):
        prompts.render("refine", entries=[], dropped=[])


def test_first_prompt_carries_the_spec(spec):
    prompt = Prompts(spec, episodes=5, act_timeout_s=5).first()
    system, user = prompt.messages
    assert system.role == "system" and "class Policy" in system.content
    assert all(f"`{name}`" in system.content for name in gate.FORBIDDEN_NAMES - {"getattr", "hasattr"})  # all refused
    assert 'hasattr(self, "phase")' in system.content and "`enum`" in system.content  # what is fine, what is not
    for text in ("pole_angle", "push cart to the left", "def step", "mean return >= 475", "5 episodes"):
        assert text in user.content


def test_refinement_shows_scores_digests_and_failures(spec):
    history = [scored("r00c0", 0, 20.0), crashed("r00c1", 0), scored("r01c0", 1, 180.0)]
    prompt = Prompts(spec, 5, 5.0).refine(history, history[2])
    text = prompt.messages[1].content
    assert prompt.kind == "refine" and prompt.parent == "r01c0" and prompt.dropped == ()
    assert "Improve on candidate r01c0" in text
    assert "mean return 180.00" in text and "mean return 20.00" in text
    assert "pole_angle 0.01 -> 0.2" in text and "push cart to the left: 4" in text
    assert "AttributeError: foo" in text and "latest crashed" in text


def test_history_is_trimmed_to_the_budget_keeping_parent_and_best(spec):
    history = [scored(f"r{r:02d}c{i}", r, 10.0 + 10 * r + i) for r in range(6) for i in range(4)]
    best, parent = history[-1], history[5]
    big = Prompts(spec, 5, 5.0, budget_tokens=100_000).refine(history, parent)
    small = Prompts(spec, 5, 5.0, budget_tokens=3_000).refine(history, parent)
    assert big.dropped == ()
    assert len(small.dropped) > 0 and small.tokens <= 3_000  # counted as the run records it, system prompt included
    text = small.messages[1].content
    assert f"### Candidate {parent.id}" in text and f"### Candidate {best.id}" in text
    assert "not shown to keep this prompt within its budget" in text
    assert small.dropped[0] in text
    assert big.chars > small.chars


def test_a_forced_trim_keeps_the_latest_round_in_full_and_logs_what_it_cut(spec):
    history = [scored(f"r{r:02d}c{i}", r, 100.0 - 10 * r - i) for r in range(6) for i in range(4)]  # latest is worst
    tuned = scored("r00c9", 0, 150.0)
    tuned.kind, tuned.tuned = "tuned", [{"line": 2, "old": f"{i}.0", "new": f"{i}.5"} for i in range(1, 66)]
    history.insert(1, tuned)
    parent = history[0]
    latest = [c.id for c in history if c.round == 5]
    for budget in range(3_000, 12_000, 100):  # the smallest budget with room for the latest round in full
        prompt = Prompts(spec, 5, 5.0, budget_tokens=budget).refine(history, parent)
        text = prompt.messages[1].content
        if all(f"# candidate {id_}" in text for id_ in latest):  # code, episodes and digest: not a one-line score
            break
    # and room for a one-line summary or two beyond it (the search steps by 100 tokens, a summary is ~50)
    prompt = Prompts(spec, 5, 5.0, budget_tokens=budget + 100).refine(history, parent)
    text = prompt.messages[1].content
    assert all(f"# candidate {id_}" in text for id_ in latest)
    assert prompt.dropped  # ... and that budget forces a trim: the older rounds made room
    shown = set(prompt.summarised) | {c.id for c in history if f"### Candidate {c.id}" in text}
    assert set(prompt.dropped) == {c.id for c in history} - shown  # what it says it left out is what it left out
    assert prompt.summarised and not set(prompt.summarised) & set(latest)
    for id_ in prompt.summarised:  # a summary still says how its episodes went (three real-model runs refined blind)
        section = text.split(f"### Candidate {id_}")[1].split("### Candidate")[0]
        assert "Episodes (summarised" in section and " steps" in section and "```" not in section
    assert text.count("line 2: ") <= 13 and "smaller changes" in text  # 65 tuned constants do not crowd it out
    assert "1 candidate so far" in Prompts(spec, 5, 5.0).refine(history[:1], parent).messages[1].content


def test_a_summary_keeps_the_models_own_feedback_without_code(spec):
    """A real-model run refined blind for 14 calls: every child of the latest round was summarised to its score and
    episodes, so what its own Feedback class measured never reached the model. A summary now carries its first two
    notes (each at most 300 characters), still without code or digest."""
    from promptpo.policy.evaluation import Notes

    history = [scored(f"r{r:02d}c{i}", r, 100.0 - 10 * r - i) for r in range(6) for i in range(2)]
    for c in history:
        c.evaluation.notes = [Notes(None, [[e, f"stride of {c.id} in episode {e}"] for e in range(3)])]
    summarised = [p for p in (Prompts(spec, 5, 5.0, budget_tokens=b).refine(history, history[0])
                              for b in range(3_000, 8_000, 250)) if p.summarised]
    assert summarised  # some budget in this range shows a candidate as a summary
    prompt = summarised[0]
    text = prompt.messages[1].content
    for id_ in prompt.summarised:
        section = text.split(f"### Candidate {id_}")[1].split("\n\n")[0]  # a summary has no blank line inside
        assert f"stride of {id_} in episode 0" in section and f"stride of {id_} in episode 1" in section
        assert f"stride of {id_} in episode 2" not in section and "```" not in section
        assert "the first 2" in section
    assert "in full or else as a summary while the prompt budget allows" in text


def test_the_parent_is_never_cut_and_a_budget_too_small_for_it_names_the_smallest_that_fits(spec):
    """The refinement prompt asks to improve its parent: its code and episodes are always there in full. A budget
    that cannot hold them with the environment's description stops with one line naming a budget that can."""
    code = "def act(obs):\n" + "".join(f"    x{i} = obs[0] * {i}\n" for i in range(300)) + "    return 0\n"
    parent = scored("r00c0", 0, 50.0)
    parent.extracted = extract(f"```python\n{code}```")
    with pytest.raises(ConfigError) as err:
        Prompts(spec, 5, 5.0, budget_tokens=1_500).refine([parent], parent)
    needed = int(re.search(r"--prompt-budget (\d+) or more", str(err.value)).group(1))
    assert "r00c0" in str(err.value) and needed > 1_500
    prompt = Prompts(spec, 5, 5.0, budget_tokens=needed).refine([parent], parent)
    assert code.strip() in prompt.messages[1].content and prompt.tokens <= needed


def test_a_refinement_prompt_says_which_call_or_round_this_is(tmp_path):
    import json

    import promptpo

    answers = tmp_path / "answers.jsonl"
    program = "```python\ndef act(obs):\n    return int(obs[2] > 0)\n```"
    answers.write_text((json.dumps({"content": program}) + "\n") * 6)
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "a", rounds=3,
                               candidates=2, episodes=1, target=10_000, max_llm_calls=6, add_to_library=False)
    texts = [p.read_text() for p in sorted((result.run_dir / "llm").glob("*.prompt.md"))]
    assert "This is LLM call 3 of at most 6; 3 left after this one." in texts[2]
    assert "This is LLM call 6 of at most 6; 0 left after this one." in texts[5]
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "b", rounds=3,
                               candidates=2, episodes=1, target=10_000, add_to_library=False)
    texts = [p.read_text() for p in sorted((result.run_dir / "llm").glob("*.prompt.md"))]
    assert "This is round 2 of 3; 1 round of 2 candidates left after this one." in texts[2]


def test_a_refinement_prompt_keeps_to_its_budget_in_the_tokens_the_run_records(spec):
    """A real model's Hopper prompts under --prompt-budget 12000 were recorded at 12.9k-13.7k tokens: the budget was
    counted as 4 characters a token, and code and digits take more tokens than that."""
    digits = "def act(obs):\n" + "".join(f"    a{i} = obs[{i % 4}] * {i * 0.123456:.6f} - {i * 7.89:.4f}\n"
                                        for i in range(120)) + "    return 0\n"
    history = []
    for r in range(6):
        for i in range(4):
            c = scored(f"r{r:02d}c{i}", r, 10.0 + 10 * r + i)
            c.extracted = extract(f"```python\n{digits}```")
            history.append(c)
    sizes = {}
    for budget in (6_000, 8_000, 10_000):
        prompt = Prompts(spec, 5, 5.0, budget_tokens=budget).refine(history, history[-1])
        assert prompt.tokens <= budget, (budget, prompt.tokens)
        assert prompt.dropped or prompt.summarised  # the history does not fit in full at any of these
        sizes[budget] = prompt.tokens
    assert sizes[6_000] > 5_000 and sizes[6_000] < sizes[8_000] < sizes[10_000]  # and it uses what it has
