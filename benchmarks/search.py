"""How many distinct strategies the search keeps refining: greedy vs islands on the same scripted answers.

Scripted answers are the same whatever the prompt says, so both runs record the same programs; what the
search decides is which of them get refined. For each run: the MAP-Elites cell (quality x action style,
promptpo.search.islands.cell) of every candidate, and how many distinct cells and distinct candidates the
refinement prompts' parents came from. CartPole-v1 (discrete) and Pendulum-v1 (continuous), 8 rounds x 4
candidates, 3 episodes, an unreachable target so every round runs.

    python benchmarks/search.py [--out benchmarks/results/search.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent

CARTPOLE = ["int(a > 0)", "int(a + 0.1 * w > 0)", "int(a + 0.5 * w > 0)", "1", "int(a + 0.3 * w > 0)", "int(x > 0)",
            "int(a + w + 0.1 * v > 0)", "int(a + 0.5 * w + 0.01 * x > 0)", "0", "int(w > 0)", "int(v > 0)",
            "int(a + 2 * w > 0)"]
PENDULUM = ["[-2.0 * th - 0.5 * thd]", "[-10.0 * th - 1.0 * thd]", "[0.0]", "[2.0 * np.sign(thd)]",
            "[-5.0 * th - 2.0 * thd]", "[np.clip(-20.0 * th - 3.0 * thd, -2, 2)]", "[1.0]", "[-1.0 * thd]",
            "[-8.0 * th]", "[2.0 * np.sign(-th)]", "[np.clip(5.0 * thd, -2, 2)]", "[-3.0 * th - 3.0 * thd]"]
ROUNDS, CANDIDATES = 8, 4
TARGETS = {"gymnasium/CartPole-v1": "501", "gymnasium/Pendulum-v1": "0"}
"""Out of reach, so every round runs (CartPole's returns end at 500; Pendulum's are below 0)."""


def answer(env: str, i: int) -> str:
    if env == "gymnasium/CartPole-v1":
        body = f"    x, v, a, w = obs\n    return {CARTPOLE[i % len(CARTPOLE)]}"
        return f"```python\ndef act(obs):\n{body}\n```\n"
    body = (f"    th = np.arctan2(obs[1], obs[0])\n    thd = obs[2]\n"
            f"    return np.clip(np.array({PENDULUM[i % len(PENDULUM)]}), -2.0, 2.0)")
    return f"```python\nimport numpy as np\n\ndef act(obs):\n{body}\n```\n"


def run(env: str, search: str, folder: Path) -> dict:
    from promptpo.candidate import Candidate
    from promptpo.extract import check_program
    from promptpo.search.islands import cell, return_scale
    from promptpo.policy.task import evaluation_from_record

    script = folder / f"{env.replace('/', '_')}-answers"
    script.mkdir(parents=True, exist_ok=True)
    for i in range(ROUNDS * CANDIDATES):
        (script / f"{i + 1:03d}.md").write_text(answer(env, i))
    out = folder / f"{env.replace('/', '_')}-{search}"
    done = subprocess.run([sys.executable, "-m", "promptpo", "optimize", env, "--model", f"scripted:{script}",
                           "--rounds", str(ROUNDS), "--candidates", str(CANDIDATES), "--episodes", "3",
                           "--target", TARGETS[env], "--search", search, "--max-repairs", "0", "--out", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    run_dir = next(out.iterdir())
    records = {p.stem: json.loads(p.read_text()) for p in sorted((run_dir / "candidates").glob("*.json"))}
    scored = []
    for cid, r in records.items():
        ev = evaluation_from_record(r)
        if ev is not None and ev.ok:
            c = Candidate(cid, r["round"], r["index"], r["kind"], r["parent"], r["llm_call"],
                          check_program((run_dir / "candidates" / f"{cid}.py").read_text()))
            c.evaluation = ev
            scored.append(c)
    scale = return_scale(scored, None)
    cells = {c.id: "q{}-s{}".format(*cell(c, scale)) for c in scored}
    parents = [r["parent"] for r in records.values() if r["kind"] == "refine"]
    return {"candidates": len(records), "occupied_cells": len(set(cells.values())),
            "distinct_parents": len(set(parents)), "distinct_parent_cells": len({cells[p] for p in parents if p in cells}),
            "refinements": len(parents)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "search.json")
    args = parser.parse_args()
    result = {"benchmark": "search", "rounds": ROUNDS, "candidates": CANDIDATES, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for env in ("gymnasium/CartPole-v1", "gymnasium/Pendulum-v1"):
            result["runs"][env] = {search: run(env, search, Path(tmp)) for search in ("greedy", "islands")}
    result["note"] = ("scripted answers: the same programs in both runs; the search only decides which get refined. "
                      "Cells here bin every run's returns over the range all its candidates reached.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
