"""Completion tokens of edit answers vs whole programs, on the same scripted refinement sequence.

Four programs for metaworld/pick-place, each a refinement of the one before (tests/answers/pick_place's pair,
then two small changes a model would make next). Each answer is the same short analysis followed by the whole
program (--edit full), by SEARCH/REPLACE blocks made from the difference to the previous program (difflib, each
changed run of lines with the least context that makes its SEARCH text unique; --edit diff), or by whichever of
the two is shorter (--edit auto). All runs must record the same code for every candidate; the benchmark reports
each run's completion tokens (tiktoken cl100k_base estimates) per answer.

    python benchmarks/edits.py [--out benchmarks/results/edits.json]
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ANSWERS = HERE.parent / "tests" / "answers" / "pick_place"


def program(answer: str) -> str:
    return answer.split("```python\n", 1)[1].split("```", 1)[0]


def sequence() -> list[tuple[str, str]]:
    """(analysis, program) for each answer of the refinement sequence."""
    first, second = (ANSWERS / "001.md").read_text(), (ANSWERS / "002.md").read_text()
    p2 = program(second)
    p3 = p2.replace("10.0 * (target - hand)", "12.0 * (target - hand)").replace("fingers < 0.75", "fingers < 0.8")
    p4 = p3.replace("np.array([0.0, 0.0, 0.02])", "np.array([0.0, 0.0, 0.01])").replace(
        "> 0.02:", "> 0.015:")
    return [(first.split("```")[0], program(first)), (second.split("```")[0], p2),
            ("The grasp holds; the carry is slow. A higher gain and a firmer close should finish sooner.\n\n", p3),
            ("Some grasps slip off the puck's edge: line up tighter and descend lower before closing.\n\n", p4)]


def edit_blocks(old: str, new: str) -> str:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        before = after = 0
        while old.count("".join(a[i1 - before:i2 + after])) != 1 or i2 + after == i1 - before:  # unique, not empty
            before, after = (before + 1, after) if before <= after and i1 - before > 0 else (before, after + 1)
        search = "".join(a[i1 - before:i2 + after])
        replace = "".join(a[i1 - before:i1]) + "".join(b[j1:j2]) + "".join(a[i2:i2 + after])
        out.append("<<<<<<< SEARCH\n" + search + "=======\n" + replace + ">>>>>>> REPLACE\n")
    return "\n".join(out)


def answers(form: str) -> list[str]:
    steps, texts = sequence(), []
    for i, (analysis, code) in enumerate(steps):
        whole = f"{analysis}```python\n{code}```\n"
        edits = analysis + edit_blocks(steps[i - 1][1], code) if i else whole
        texts.append(whole if form == "full" else edits if form == "diff" else min(whole, edits, key=len))
    return texts


def run(form: str, folder: Path) -> dict:
    script = folder / form
    script.mkdir(parents=True)
    for i, text in enumerate(answers(form), 1):
        (script / f"{i:03d}.md").write_text(text)
    out = folder / f"runs-{form}"
    done = subprocess.run([sys.executable, "-m", "promptpo", "optimize", "metaworld/pick-place", "--model",
                           f"scripted:{script}", "--rounds", "4", "--candidates", "1", "--episodes", "2",
                           "--target", "1.01", "--edit", form, "--max-repairs", "0", "--out", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    run_dir = next(out.iterdir())
    metas = [json.loads(p.read_text()) for p in sorted((run_dir / "llm").glob("[0-9][0-9][0-9][0-9].json"))]
    codes = [p.read_text() for p in sorted((run_dir / "candidates").glob("*.py"))]
    return {"completion_tokens": [m["completion_tokens"] for m in metas], "codes": codes,
            "outcomes": [json.loads(p.read_text())["outcome"] for p in sorted((run_dir / "candidates").glob("*.json"))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "edits.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {form: run(form, Path(tmp)) for form in ("full", "diff", "auto")}
    assert all(r["codes"] == runs["full"]["codes"] for r in runs.values()), "every form must give the same programs"
    refinement = {form: sum(r["completion_tokens"][1:]) for form, r in runs.items()}
    result = {"benchmark": "edits", "env": "metaworld/pick-place", "answers": len(runs["full"]["codes"]),
              "same_code": True, "outcomes": runs["full"]["outcomes"],
              **{f"completion_tokens_{form}": r["completion_tokens"] for form, r in runs.items()},
              "refinement_tokens": refinement,
              "refinement_ratio_vs_full": {form: round(n / refinement["full"], 3) for form, n in refinement.items()},
              "steps": ["001.md (whole program)", "002.md: a rewrite (grasp, then carry)", "gain and grip threshold",
                        "alignment tolerance and descent offset"],
              "note": "the first answer has nothing to edit, so it is a whole program in both; token counts are "
                      "tiktoken cl100k_base estimates of scripted answers, not a model's"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "codes"}, indent=2))


if __name__ == "__main__":
    main()
