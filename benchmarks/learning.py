"""Prompt and answer tokens of what the model learns from: reflection, --reflect, feedback functions, the library.

The same scripted refinement on metaworld/pick-place (tests/answers/pick_place: a first program that never
grasps, then the one that does; 2 rounds, 1 candidate, 2 episodes, the target set out of reach so both rounds
run) with one feature on at a time against a run with all of them off:

* reflection: the analysis before each program is shown back (--reflection on);
* reflect: one extra call after round 0 asks what it taught (--reflect), answered with a short lesson;
* feedback_fn: both programs carry a task-specific ``class Feedback`` (--feedback-fn on);
* library: the library holds a solved metaworld/reach entry, shown in the first prompt (--examples 2).

Token counts are tiktoken cl100k_base estimates of scripted answers and of the prompts as sent, not a model's.
Also reported: the evaluation wall time with and without the feedback function (its own sandbox worker).

    python benchmarks/learning.py [--out benchmarks/results/learning.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ANSWERS = HERE.parent / "tests" / "answers"
FEEDBACK = '''

class Feedback:
    """Where the grasp goes wrong: how close the hand got, when it closed, whether the puck rose."""

    def summarize_trajectory(self, observations, actions, rewards, infos):
        hand, puck, goal = observations[:, 0:3], observations[:, 4:7], observations[:, 36:39]
        reach = np.linalg.norm(hand - puck, axis=1)
        carry = np.linalg.norm(puck - goal, axis=1)
        closed = np.flatnonzero(actions[:, 3] > 0)
        first = int(closed[0]) if len(closed) else None
        lifted = np.flatnonzero(puck[:, 2] > puck[0, 2] + 0.02)
        at_close = f"{reach[first]:.3f} m" if first is not None else "-"
        return (f"hand-puck min {reach.min():.3f} m at step {int(reach.argmin())}; closed first at step {first} "
                f"(hand-puck then {at_close}); puck up 2 cm at step {int(lifted[0]) if len(lifted) else None}; "
                f"puck-goal min {carry.min():.3f} m, end {carry[-1]:.3f} m")
'''
LESSON = ("The hand reached the puck but never closed: gripper effort stayed -1. Next: descend around the puck, "
          "close, wait for the fingers, then lift and carry.")


def answers(feature: str) -> list[str]:
    texts = [(ANSWERS / "pick_place" / f"00{i}.md").read_text() for i in (1, 2)]
    if feature == "feedback_fn":
        texts = [t[:t.rindex("```")].rstrip() + "\n" + FEEDBACK + "```\n" for t in texts]
    if feature == "reflect":
        texts = [texts[0], LESSON, texts[1]]
    return texts


def run(feature: str, folder: Path, library: Path) -> dict:
    import promptpo

    script = folder / f"answers-{feature}"
    script.mkdir(parents=True)
    for i, text in enumerate(answers(feature), 1):
        (script / f"{i:03d}.md").write_text(text)
    options = {"reflection": feature == "reflection", "reflect": feature == "reflect",
               "feedback_fn": feature == "feedback_fn", "examples": 2 if feature == "library" else 0}
    os.environ["PROMPTPO_LIBRARY"] = str(library)
    result = promptpo.optimize("metaworld/pick-place", f"scripted:{script}", out=folder / f"runs-{feature}",
                               rounds=2, candidates=1, episodes=2, cascade=0, target=1.01, max_repairs=0,
                               add_to_library=False, **options)
    metas = [json.loads(p.read_text()) for p in sorted((result.run_dir / "llm").glob("[0-9][0-9][0-9][0-9].json"))]
    records = [json.loads(p.read_text()) for p in sorted((result.run_dir / "candidates").glob("*.json"))]
    return {"prompt_tokens": [m["prompt_tokens"] for m in metas],
            "completion_tokens": [m["completion_tokens"] for m in metas],
            "calls": [m["prompt"] for m in metas],
            "evaluation_wall_s": [r["evaluation"]["wall_time_s"] for r in records],
            "notes": [n["lines"] for r in records for n in r["evaluation"].get("notes", [])][:1],
            "success_rates": [r["score"]["success_rate"] for r in records]}


def solved_reach(folder: Path, library: Path) -> None:
    import promptpo

    os.environ["PROMPTPO_LIBRARY"] = str(library)
    result = promptpo.optimize("metaworld/reach", f"scripted:{ANSWERS / 'reach'}", out=folder / "runs-reach",
                               rounds=1, candidates=1, episodes=2)
    if result.library_entry is None:
        raise SystemExit(f"the reach run did not reach its target: {result.status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "learning.json")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    with tempfile.TemporaryDirectory() as tmp:
        folder, library = Path(tmp), Path(tmp) / "the-library"
        solved_reach(folder, library)
        runs = {f: run(f, folder, library) for f in ("none", "reflection", "reflect", "feedback_fn", "library")}
    base = runs["none"]
    result = {"benchmark": "learning", "env": "metaworld/pick-place", "runs": runs,
              "prompt_tokens_total": {f: sum(r["prompt_tokens"]) for f, r in runs.items()},
              "completion_tokens_total": {f: sum(r["completion_tokens"]) for f, r in runs.items()},
              "vs_none": {f: {"prompt": sum(r["prompt_tokens"]) - sum(base["prompt_tokens"]),
                              "completion": sum(r["completion_tokens"]) - sum(base["completion_tokens"])}
                          for f, r in runs.items()},
              "feedback_fn_evaluation_overhead_s": round(sum(runs["feedback_fn"]["evaluation_wall_s"])
                                                         - sum(base["evaluation_wall_s"]), 3),
              "note": "scripted answers (tests/answers/pick_place), tiktoken cl100k_base estimates; 'vs_none' is each "
                      "feature alone against all of them off; evaluation wall times include the feedback function's "
                      "own sandbox worker"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
