"""promptpo.records.text: how every view words a run's facts (numbers, the best, calls, status, a verdict)."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import FIXTURES
from promptpo.records import RunFolder
from promptpo.records.text import (best_scored, best_text, calls_text, final_text, headline, number,
                                   status_text)


@pytest.fixture(scope="module")
def facts():
    """A real policy run's facts (best r00c0, mean return 500, one call), to vary field by field."""
    return RunFolder(FIXTURES / "runs-before-engine" / "policy").facts


def test_number():
    assert number(None) == "-"
    assert number(1234567) == "1,234,567"
    assert number(1234.5678) == "1,234.57"
    assert number(0.5, digits=3) == "0.500"
    assert number(True) == "True"  # a bool is no count
    assert number("n/a") == "n/a"


def test_best_text(facts):
    assert best_text(facts) == "r00c0"
    assert best_text(dataclasses.replace(facts, best=None, best_stopped="r01c2")) == "r01c2 (stopped early)"
    assert best_text(dataclasses.replace(facts, best=None, best_stopped=None)) == "-"


def test_best_scored_from_the_facts_and_from_the_record(facts):
    assert best_scored(facts) == "r00c0: mean return 500.00"
    with_success = dataclasses.replace(facts, best_score=4866.666, best_success=1.0)
    assert best_scored(with_success) == "r00c0: mean return 4,866.67, success rate 1.00"
    record = {"score": {"mean_return": 500.0, "std_return": 0.0, "success_rate": None}}
    assert best_scored(facts, record) == "r00c0: mean return 500.00 ± 0.00"


def test_best_scored_with_no_best(facts):
    assert best_scored(dataclasses.replace(facts, best=None, best_stopped="r00c1")) == (
        "none scored in full (the best the cascade stopped early: r00c1)")
    assert best_scored(dataclasses.replace(facts, best=None, best_stopped=None)) == "none scored"


def test_final_text(facts):
    assert final_text(dataclasses.replace(facts, final_return=487.2, final_success=None)) == "mean return 487.20"
    assert final_text(dataclasses.replace(facts, final_return=1.0, final_success=0.5)) == (
        "mean return 1.00, success rate 0.50")
    assert final_text(dataclasses.replace(facts, final_return=None, final_success=None)) == "mean return -"


def test_calls_text(facts):
    assert calls_text(facts) == "1"
    assert calls_text(dataclasses.replace(facts, calls_sent=5, calls_answered=3)) == "3 (2 sent, unanswered)"
    assert calls_text(dataclasses.replace(facts, calls_sent=1500, calls_answered=1200)) == (
        "1,200 (300 sent, unanswered)")
    assert calls_text(dataclasses.replace(facts, calls_sent=0, calls_answered=0)) == "-"


def test_status_text(facts):
    assert status_text(facts) == "target_reached"
    no_best = dataclasses.replace(facts, best=None, status="completed")
    assert status_text(no_best) == "completed, no candidate scored in full"
    assert status_text(dataclasses.replace(no_best, status="running")) == "running"
    assert status_text(dataclasses.replace(no_best, kind="ppo")) == "completed"  # a training has no candidates
    assert status_text(dataclasses.replace(facts, recovered="summary.json is missing")) == (
        "target_reached (summary rebuilt from the records)")


def test_headline():
    assert headline({"verdict": "matches", "outcome": "ok", "gap": False}) == "ok: matches"
    assert headline({"verdict": "lower by 40%", "gap": True}) == "GAP: lower by 40%"
    assert headline({"verdict": "crashed on seed 3", "outcome": "crashed"}) == "FAILED: crashed on seed 3"
    assert headline({"verdict": "FAILED: did not train"}) == "FAILED: did not train"  # an old schedule record
    assert headline({}) == "ok: "
