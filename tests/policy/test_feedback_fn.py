"""Feedback functions (promptpo.policy.summarizer): the model's own ``class Feedback``, run in the sandbox on each
episode's recorded steps, its notes shown in the next prompt; failures reported, the run going on."""

from __future__ import annotations

import json

import numpy as np

import promptpo
from promptpo.policy import summarizer
from promptpo.errors import SandboxError
from promptpo.isolation import make_sandbox
from promptpo.isolation.base import Limits
from promptpo.policy.trajectory import STEP_OVERHEAD, Keeper

from conftest import ANSWERS, resume_as_if_it_died, scripted

WEAK = "def act(obs):\n    x, v, a, w = obs\n    return int(a > 0)\n"
GOOD = "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)\n"
MEASURING = '''
import numpy as np


class Feedback:
    def summarize_trajectory(self, observations, actions, rewards, infos):
        worst = int(np.abs(observations[:, 2]).argmax())
        return (f"FB {len(rewards)} steps, obs {observations.shape}, actions {actions.shape}, "
                f"largest |pole angle| {abs(observations[worst, 2]):.3f} at step {worst}, return {rewards.sum():g}")
'''
CRASHING = '''
class Feedback:
    def summarize_trajectory(self, observations, actions, rewards, infos):
        raise ValueError("no idea what to measure")
'''
HANGING = '''
class Feedback:
    def summarize_trajectory(self, observations, actions, rewards, infos):
        while True:
            pass
'''


def answer(code: str, prose: str = "A first try.") -> str:
    return f"{prose}\n\n```python\n{code}```"


def run(tmp_path, answers, **options):
    options = {"rounds": len(answers), "candidates": 1, "episodes": 3, "cascade": 0, **options}
    return promptpo.optimize("gymnasium/CartPole-v1", scripted(tmp_path, *answers), out=tmp_path / "runs", **options)


def notes(run_dir, id_: str) -> list[dict]:
    return json.loads((run_dir / "candidates" / f"{id_}.json").read_text())["evaluation"]["notes"]


def prompt(run_dir, call: int) -> str:
    return (run_dir / "llm" / f"{call:04d}.prompt.md").read_text()


def test_a_feedback_class_writes_a_note_per_episode_into_the_next_prompt_and_serves_later_programs(tmp_path):
    result = run(tmp_path, [answer(WEAK + MEASURING), answer(WEAK.replace("a > 0", "a + 0.01 * w > 0")),
                            answer(GOOD)])
    assert result.status == "target_reached"
    [own] = notes(result.run_dir, "r00c0")
    assert own["source"] is None and own["error"] == "" and [line[0] for line in own["lines"]] == [0, 1, 2]
    episodes = json.loads((result.run_dir / "candidates" / "r00c0.json").read_text())["evaluation"]["episodes"]
    for (index, text), episode in zip(own["lines"], episodes):  # computed from the real steps of each episode
        steps = episode["length"]
        assert text.startswith(f"FB {steps} steps, obs ({steps + 1}, 4), actions ({steps},)")
        assert text.endswith(f"return {episode['episode_return']:g}")
    second = prompt(result.run_dir, 2)
    assert "Your own feedback on its episodes (written by this program's own Feedback class)" in second
    assert f"- episode 0: {own['lines'][0][1]}" in second
    [kept] = notes(result.run_dir, "r01c0")  # no Feedback class of its own: the last one that worked ran on it
    assert kept["source"] == "r00c0" and len(kept["lines"]) == 3
    assert "written by the Feedback class of r00c0, the last one that worked" in prompt(result.run_dir, 3)
    system = json.loads((result.run_dir / "llm" / "0001.messages.json").read_text())[0]["content"]
    assert "class Feedback" in system and "summarize_trajectory(self, observations, actions, rewards, infos)" in system


def test_a_crashing_or_hanging_feedback_class_is_reported_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(summarizer, "CALL_S", 1.0)
    result = run(tmp_path, [answer(WEAK + CRASHING), answer(WEAK + MEASURING), answer(WEAK + HANGING),
                            answer(GOOD)])
    assert result.status == "target_reached" and result.best_candidate == "r03c0"
    [crashed] = notes(result.run_dir, "r00c0")
    assert "ValueError: no idea what to measure" in crashed["error"] and "line" in crashed["traceback"]
    record = json.loads((result.run_dir / "candidates" / "r00c0.json").read_text())
    assert record["outcome"] == "ok" and record["score"]["mean_return"] > 0  # the policy's score is untouched
    second = prompt(result.run_dir, 2)
    assert ("Your feedback function failed: this program's own Feedback class: ValueError: no idea what to measure; "
            "no notes for this candidate.") in second and "raise ValueError" in second
    hung, fallback = notes(result.run_dir, "r02c0")  # its own hung; the last one that worked (r01c0's) ran instead
    assert hung["source"] is None and "did not return within 1 s" in hung["error"]
    assert fallback["source"] == "r01c0" and fallback["error"] == "" and len(fallback["lines"]) == 3
    fourth = prompt(result.run_dir, 4)
    assert "Your feedback function failed: this program's own Feedback class" in fourth
    assert "the Feedback class of r01c0, the last one that worked was used instead" in fourth


def test_feedback_fn_off_runs_no_feedback_class_and_says_nothing_of_it(tmp_path):
    result = run(tmp_path, [answer(WEAK + MEASURING), answer(GOOD)], feedback_fn=False)
    assert result.status == "target_reached" and notes(result.run_dir, "r00c0") == []
    first, second = prompt(result.run_dir, 1), prompt(result.run_dir, 2)
    assert "summarize_trajectory" not in first.split("class Feedback")[0] and "Your own feedback" not in second


def test_a_run_resumed_after_a_crash_shows_the_same_notes(tmp_path):
    answers = [answer(WEAK + MEASURING), answer(WEAK.replace("a > 0", "a + 0.01 * w > 0")), answer(GOOD)]
    whole = run(tmp_path, answers)
    assert whole.status == "target_reached"
    expected = prompt(whole.run_dir, 3)
    # As if the run had died after its second answer: its second candidate and third call never recorded.
    resumed = resume_as_if_it_died(whole.run_dir, ["candidates/r01c0.*", "candidates/r02c0.*", "llm/0003.*"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert notes(whole.run_dir, "r01c0")[0]["source"] == "r00c0"  # the kept feedback class, rebuilt from records
    assert prompt(whole.run_dir, 3) == expected


def test_a_metaworld_feedback_class_sees_39_numbers_per_step_and_the_envs_info(tmp_path):
    reach = (ANSWERS / "reach" / "001.md").read_text().rstrip().removesuffix("```")
    code = reach + '''

class Feedback:
    def summarize_trajectory(self, observations, actions, rewards, infos):
        closest = float(np.linalg.norm(observations[:, 0:3] - observations[:, 36:39], axis=1).min())
        return f"obs {observations.shape[1]}, actions {actions.shape[1]}, info {sorted(infos[-1])[:3]}, " \\
               f"success {infos[-1]['success']}, closest {closest:.3f}"
```'''
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"content": code}) + "\n")
    result = promptpo.optimize("metaworld/reach", f"scripted:{path}", out=tmp_path / "runs", rounds=1,
                               candidates=1, episodes=2, cascade=0)
    [own] = notes(result.run_dir, "r00c0")
    assert own["error"] == "" and len(own["lines"]) == 2, own
    for _, text in own["lines"]:  # the episode ends at its success, so the last info says success
        assert text.startswith("obs 39, actions 4, info [") and "success 1.0" in text


def test_the_keeper_stops_at_its_byte_cap_and_the_note_says_where(tmp_path):
    step_bytes = STEP_OVERHEAD + 8 + 8 + 2 * 8 + 4 * 8  # action, reward, two info values, an observation of 4 floats
    keeper = Keeper(limit_bytes=4 * 8 + 3 * step_bytes + step_bytes // 2)  # the first obs and 3 steps
    [t] = keeper.batch([7])
    obs = {"obs": np.zeros(4)}
    keeper.start(t, obs)
    for step in range(10):
        keeper.step(t, np.int64(1), 1.0, obs, {"flag": step % 2 == 0, "x": 0.5, "_private": 1.0, "text": "no"})
    assert t.steps == 3 and t.cut_at == 3 and len(t.observations) == 4
    arrays = t.arrays()
    assert arrays["obs.obs"].shape == (4, 4) and arrays["info.flag"].dtype == bool and set(arrays) == {
        "obs.obs", "actions", "rewards", "info.flag", "info.x"}
    sandbox = make_sandbox("process")
    try:
        code = "class Feedback:\n    def summarize_trajectory(self, o, a, r, i):\n        return repr(i[0]) + ' ' + str(o.shape)\n"
        result = summarizer.summarize(sandbox, Limits(), code, None, keeper.trajectories)
    finally:
        sandbox.close()
    assert result.lines == [[7, "{'flag': True, 'x': 0.5} (4, 4)"]] and result.cut == [[7, 3]]


def test_a_tuned_candidate_has_its_samples_notes_and_a_host_failure_is_not_blamed_on_the_model(tmp_path, monkeypatch):
    """Tuning's samples run no feedback function, but the phase's winner gets its notes from the steps its sample
    kept (its episodes are not played again): the next prompt shows them, as for any candidate."""
    tunable = 'TUNABLE = {"K": (0.0, 2.0)}\nK = 0.0\n\n\ndef act(obs):\n    x, v, a, w = obs\n    return int(a + K * w > 0)\n'
    result = run(tmp_path / "tuned", [answer(tunable + MEASURING)], rounds=1, tune_constants=True, tune_evals=12,
                 tune_share=0.9)
    records = [json.loads(p.read_text()) for p in (result.run_dir / "candidates").glob("*.json")]
    tuned = [r for r in records if r["kind"] == "tuned"]
    assert tuned, [r["kind"] for r in records]
    for record in tuned:
        [own] = record["evaluation"]["notes"]
        assert own["source"] is None and len(own["lines"]) == len(record["evaluation"]["episodes"])
    assert notes(result.run_dir, "r00c0")[0]["lines"]  # the model's own candidate got its notes too
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["env_steps"] == sum(r["env_steps"] for r in records if r["kind"] != "tuned") + summary[
        "tuning_env_steps"]  # no episode was played again for the notes

    def refuse(*args, **kwargs):
        raise SandboxError("no worker could start")

    monkeypatch.setattr(summarizer, "PolicySession", refuse)
    broken = run(tmp_path / "host", [answer(WEAK + MEASURING), answer(GOOD)])
    [tried] = notes(broken.run_dir, "r00c0")
    assert tried["by_host"] and "no worker could start" in tried["error"]
    assert "a problem on its own side, not in your code" in prompt(broken.run_dir, 2)
