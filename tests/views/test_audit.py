"""promptpo.views.audit: what it says of a candidate the cascade stopped before the run had a success."""

from __future__ import annotations

import json
from pathlib import Path

from promptpo.views.audit import audit
from promptpo.policy.cascade import NOTHING_BEFORE
from promptpo.records import RunFolder

NOTHING = "0/2 successes in the first 2 episodes" + NOTHING_BEFORE
BELOW = "0/2 successes in the first 2 episodes: a policy as good as the best (success rate 1.00) would do this badly"


def candidate(index: int, *, success: float | None = None, stopped: str = "", kind: str = "initial",
              parent: str | None = None, outcome: str = "ok") -> dict:
    stage = {"episodes": 2, "of": 10, "passed": not stopped, "reason": stopped or "passed"}
    score = None if outcome != "ok" else {"mean_return": 1.0, "std_return": 0.0,
                                           "success_rate": 0.0 if stopped else success, "complete": not stopped}
    return {"id": f"r00c{index}", "round": 0, "index": index, "kind": kind, "parent": parent, "outcome": outcome,
            "env_steps": 100, "score": score, "evaluation": {"stage": stage, "episodes": []} if score else None}


def run_of(tmp_path: Path, records: list[dict], **config) -> RunFolder:
    folder = tmp_path / "run"
    (folder / "candidates").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"env": "metaworld/pick-place", "config": config}))
    for r in records:
        (folder / "candidates" / f"{r['id']}.json").write_text(json.dumps(r))
        (folder / "candidates" / f"{r['id']}.py").write_text("class Policy:\n    def act(self, obs):\n        return 0\n")
    return RunFolder(folder)


def flag(run: RunFolder, cid: str) -> str:
    [found] = {r.id: r for r in audit(run)}[cid].flags
    return found


def test_a_wave_mate_that_succeeded_in_full_is_named(tmp_path):
    run = run_of(tmp_path, [candidate(0, stopped=NOTHING), candidate(1, success=1.0)], candidates=2, concurrency=0)
    said = flag(run, "r00c0")
    assert "0/2 successes in the first 2 episodes and the run had no success as its wave began" in said
    assert said.endswith(NOTHING_BEFORE + "; its round-mate r00c1 succeeded, evaluated alongside it (the cascade "
                         "compares with the run's best as the wave began)")


def test_no_note_where_the_stop_had_another_reason_or_the_mate_was_stopped_too(tmp_path):
    other = run_of(tmp_path / "a", [candidate(0, stopped=BELOW), candidate(1, success=1.0)], candidates=2)
    assert "alongside" not in flag(other, "r00c0")
    stopped_mate = candidate(1, stopped=NOTHING)
    stopped_mate["score"]["success_rate"] = 0.5  # stopped after a success in its stage: it never became the best
    both = run_of(tmp_path / "b", [candidate(0, stopped=NOTHING), stopped_mate], candidates=2, concurrency=0)
    assert "alongside" not in flag(both, "r00c0")


def test_only_mates_of_the_same_wave_count(tmp_path):
    # --concurrency 1: r00c1 was asked after r00c0 had been evaluated, so it is not a mate
    one_at_a_time = run_of(tmp_path / "a", [candidate(0, stopped=NOTHING), candidate(1, success=1.0)],
                           candidates=2, concurrency=1)
    assert "alongside" not in flag(one_at_a_time, "r00c0")
    # --concurrency 2 of 4: r00c1 is in r00c0's wave (of two), r00c3 in the next
    pairs = run_of(tmp_path / "b", [candidate(0, stopped=NOTHING), candidate(1, success=1.0),
                                    candidate(2, stopped=NOTHING), candidate(3, success=1.0)], candidates=4, concurrency=2)
    assert "its wave-mate r00c1 succeeded" in flag(pairs, "r00c0")
    assert "its wave-mate r00c3 succeeded" in flag(pairs, "r00c2")
    # a repair is evaluated in the wave after its parent's: not alongside r00c1
    repaired = run_of(tmp_path / "c", [candidate(0, outcome="crashed"), candidate(1, stopped=NOTHING),
                                       candidate(2, success=1.0, kind="repair", parent="r00c0")], candidates=2)
    assert "alongside" not in flag(repaired, "r00c1")


def test_records_written_before_say_what_the_cascade_knew(tmp_path):
    for i, old in enumerate(("0/2 successes in the first 2 episodes and no candidate has succeeded yet",
                             ("0/2 successes in the first 2 episodes and no candidate recorded before its round "
                              "had succeeded"))):
        run = run_of(tmp_path / str(i), [candidate(0, stopped=old), candidate(1, success=1.0)], candidates=2,
                     concurrency=0)
        said = flag(run, "r00c0")
        assert NOTHING_BEFORE in said and "its round-mate r00c1 succeeded" in said, said
