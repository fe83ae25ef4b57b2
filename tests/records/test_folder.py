"""promptpo.records.folder: the raw reader of a run folder, and what it reads around (a last events line cut short
by a kill, candidate or call records that are not JSON) versus what makes the folder unreadable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES
from promptpo.errors import RunStoreError
from promptpo.records.folder import Folder, numbers, score_text, slot

META = {"env": "gymnasium/CartPole-v1", "kind": "promptpo", "model": "scripted:x"}


def run_dir(path: Path, meta: dict | None = None, events: str | None = None, **files) -> Path:
    """A run folder with run.json (``meta``), events.jsonl as given, and ``files`` (relative path -> JSON value, or
    text when a str)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "run.json").write_text(json.dumps(META if meta is None else meta))
    if events is not None:
        (path / "events.jsonl").write_text(events)
    for rel, value in files.items():
        target = path / rel.replace("__", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


def line(**event) -> str:
    return json.dumps(event) + "\n"


# -- opening -------------------------------------------------------------------------------
def test_a_folder_without_run_json_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(RunStoreError, match="run.json is missing"):
        Folder(tmp_path)


@pytest.mark.parametrize("meta", ["[1, 2]", json.dumps({"kind": "promptpo"})])
def test_a_run_json_that_is_no_run_record_is_an_error(tmp_path, meta):
    (tmp_path / "run.json").write_text(meta)
    with pytest.raises(RunStoreError, match="is not a promptpo run record"):
        Folder(tmp_path)


def test_a_run_json_that_is_not_json_is_an_error(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(RunStoreError, match="run.json is not valid JSON"):
        Folder(tmp_path)


def test_kind_defaults_to_the_policy_kind_and_says_whether_it_holds_programs(tmp_path):
    assert Folder(run_dir(tmp_path / "a", {"env": "x"})).kind == "promptpo"
    assert Folder(run_dir(tmp_path / "a", {"env": "x"})).has_programs
    assert Folder(run_dir(tmp_path / "b", {"env": "x", "kind": "schedule"})).has_programs
    ppo = Folder(run_dir(tmp_path / "c", {"env": "x", "kind": "ppo"}))
    assert not ppo.has_programs and ppo.name == "c"


def test_asks_a_model_is_false_only_for_the_offline_backend(tmp_path):
    assert Folder(run_dir(tmp_path / "a", {**META, "backend": "scripted"})).asks_a_model
    assert not Folder(run_dir(tmp_path / "b", {**META, "backend": "offline"})).asks_a_model


# -- events.jsonl ----------------------------------------------------------------------------
def test_a_last_events_line_cut_short_is_left_out_and_noted(tmp_path):
    folder = Folder(run_dir(tmp_path, events=line(event="run_start") + line(event="candidate", id="r00c0")
                                             + '{"event": "cand'))
    assert [e["event"] for e in folder.events()] == ["run_start", "candidate"]
    assert folder.problems == ["events.jsonl: its last line was cut short (left out)"]


def test_a_bad_line_amid_the_events_is_a_corrupt_folder_naming_the_line(tmp_path):
    folder = Folder(run_dir(tmp_path, events=line(event="run_start") + "garbage\n" + line(event="run_end")))
    with pytest.raises(RunStoreError, match=r"events.jsonl:2 is not JSON"):
        folder.events()


def test_a_bad_last_line_that_was_finished_with_a_newline_is_corrupt_not_cut_short(tmp_path):
    folder = Folder(run_dir(tmp_path, events=line(event="run_start") + "garbage\n"))
    with pytest.raises(RunStoreError, match=r"events.jsonl:2 is not JSON"):
        folder.events()


def test_blank_lines_and_lines_that_are_no_object_are_skipped(tmp_path):
    folder = Folder(run_dir(tmp_path, events=line(event="a") + "\n   \n" + "[1, 2]\n" + '"text"\n' + line(event="b")))
    assert [e["event"] for e in folder.events()] == ["a", "b"]
    assert folder.problems == []


def test_a_line_separator_inside_a_value_does_not_split_the_line(tmp_path):
    # json.dumps escapes U+2028 by default; a writer with ensure_ascii=False leaves it raw, and it is still one line
    text = json.dumps({"event": "note", "text": "a\u2028b"}, ensure_ascii=False) + "\n"
    assert "\u2028" in text
    folder = Folder(run_dir(tmp_path, events=text))
    assert folder.events() == [{"event": "note", "text": "a\u2028b"}]


def test_events_are_read_once(tmp_path):
    folder = Folder(run_dir(tmp_path, events=line(event="a")))
    assert len(folder.events()) == 1
    (tmp_path / "events.jsonl").write_text(line(event="a") + line(event="b"))
    assert len(folder.events()) == 1


def test_missing_jsonl_files_read_as_empty(tmp_path):
    folder = Folder(run_dir(tmp_path))
    assert folder.events() == [] and folder.curve() == []


def test_a_curve_line_cut_short_is_noted_under_its_own_name(tmp_path):
    folder = Folder(run_dir(tmp_path, **{"curve.jsonl": line(env_steps=10, mean_return=1.0) + '{"env_st'}))
    assert folder.curve() == [{"env_steps": 10, "mean_return": 1.0}]
    assert folder.problems == ["curve.jsonl: its last line was cut short (left out)"]


# -- candidates ---------------------------------------------------------------------------
def test_candidates_are_in_slot_order_whatever_order_their_files_sort_in(tmp_path):
    folder = Folder(run_dir(tmp_path, **{
        "candidates__r10c0.json": {"id": "r10c0", "round": 10, "index": 0},
        "candidates__r02c1.json": {"id": "r02c1", "round": 2, "index": 1},
        "candidates__r02c0.json": {"id": "r02c0", "round": 2, "index": 0}}))
    assert [r["id"] for r in folder.candidates] == ["r02c0", "r02c1", "r10c0"]


def test_an_unreadable_candidate_file_is_left_out_and_noted(tmp_path):
    folder = Folder(run_dir(tmp_path, **{
        "candidates__r00c0.json": {"id": "r00c0", "round": 0, "index": 0},
        "candidates__r00c1.json": '{"id": "r00c1", "rou',
        "candidates__r00c2.json": "[1, 2]",
        "candidates__notes.json": {"text": "no id: not a candidate"}}))
    assert [r["id"] for r in folder.candidates] == ["r00c0"]
    assert folder.problems == ["candidates/r00c1.json is not valid JSON (left out)",
                               "candidates/r00c2.json holds no record (left out)"]


def test_a_candidate_whose_round_is_not_a_number_is_an_error_naming_its_file(tmp_path):
    folder = Folder(run_dir(tmp_path, **{"candidates__r00c0.json": {"id": "r00c0", "round": "x", "index": 0}}))
    with pytest.raises(RunStoreError, match=r"r00c0.json: its round is not a number \('x'\)"):
        folder.candidates


def test_a_candidate_by_id_and_an_unknown_one_lists_the_known(tmp_path):
    folder = Folder(run_dir(tmp_path, **{"candidates__r00c0.json": {"id": "r00c0"},
                                         "candidates__r00c0.py": "class Policy: pass\n"}))
    assert folder.candidate("r00c0")["id"] == "r00c0"
    assert folder.code("r00c0") == "class Policy: pass\n" and folder.has_code("r00c0")
    with pytest.raises(RunStoreError, match="no candidate 'r09c9'") as err:
        folder.candidate("r09c9")
    assert err.value.hint == "candidates: r00c0"
    assert not folder.has_code("r09c9")
    with pytest.raises(RunStoreError, match="r09c9.py is missing"):
        folder.code("r09c9")


def test_numbers_and_slot():
    numbers({"round": None, "index": "3"}, Path("x.json"), ("round", "index"))  # None and "3" are fine
    with pytest.raises(RunStoreError, match=r"x.json: its env_steps is not a number \('\[1\]'\)"):
        numbers({"env_steps": [1]}, Path("x.json"), ("env_steps",))
    assert slot({"id": "r01c2", "round": 1, "index": 2}) == (1, 2, "r01c2")
    assert slot({"id": "a"}) == (0, 0, "a")


# -- summary, calls, other files ---------------------------------------------------------
def test_stored_summary_says_why_it_cannot_be_used(tmp_path):
    assert Folder(run_dir(tmp_path / "a")).stored_summary() == (None, "summary.json is missing")
    corrupt, why = Folder(run_dir(tmp_path / "b", **{"summary.json": "{cut"})).stored_summary()
    assert corrupt is None and why.startswith("summary.json is not valid JSON (")
    assert Folder(run_dir(tmp_path / "c", **{"summary.json": [1]})).stored_summary() == (
        None, "summary.json holds no summary")
    assert Folder(run_dir(tmp_path / "d", **{"summary.json": {"status": "completed"}})).stored_summary() == (
        {"status": "completed"}, "")


def test_calls_count_prompts_sent_and_answers_recorded(tmp_path):
    folder = Folder(run_dir(tmp_path, **{"llm__0001.prompt.md": "p", "llm__0001.response.md": "r",
                                         "llm__0002.prompt.md": "p2", "llm__notes.prompt.md": "not a call"}))
    assert folder.calls() == ([1, 2], [1])
    assert folder.llm_text(1, "response.md") == "r" and folder.llm_text(2, "response.md") == ""
    assert Folder(run_dir(tmp_path / "none")).calls() == ([], [])


def test_an_unreadable_call_record_is_none_and_noted(tmp_path):
    folder = Folder(run_dir(tmp_path, **{"llm__0001.json": {"prompt_tokens": 3}, "llm__0002.json": "{cut",
                                         "llm__0003.messages.json": "{cut"}))
    assert folder.call_record(1) == {"prompt_tokens": 3}
    assert folder.call_record(2) is None
    assert folder.call_record(4) is None
    assert "llm/0002.json is not valid JSON (left out)" in folder.problems
    assert folder.call_records() == [{"prompt_tokens": 3}]
    assert folder.llm_messages(3) == [] and folder.llm_messages(5) == []


def test_tuning_samples_in_key_order_one_cut_short_left_out(tmp_path):
    folder = Folder(run_dir(tmp_path, **{"tuning__b.json": {"key": "b"}, "tuning__a.json": {"key": "a"},
                                         "tuning__c.json": '{"key": '}))
    assert [r["key"] for r in folder.tuning_samples()] == ["a", "b"]
    assert folder.problems == ["tuning/c.json is not valid JSON (left out)"]


def test_the_latest_verification_text_and_model_zip(tmp_path):
    folder = Folder(run_dir(tmp_path, **{
        "verifications__r00c0-20260101-000000.json": {"verdict": "old"},
        "verifications__r00c0-20260202-000000.json": {"verdict": "new"},
        "verifications__r00c1-20260303-000000.json": {"verdict": "other candidate"},
        "best.py": "x = 1\n"}))
    assert folder.verification("r00c0") == {"verdict": "new"}
    assert folder.verification("r00c9") is None
    assert folder.text("best.py") == "x = 1\n" and folder.text("missing.md") == ""
    assert folder.model_zip is None
    (tmp_path / "model.zip").write_bytes(b"PK")
    assert folder.model_zip == tmp_path / "model.zip"


# -- finding a run ------------------------------------------------------------------------
def test_find_by_path_by_id_under_out_and_by_name_deeper(tmp_path):
    out = tmp_path / "runs"
    run_dir(out / "20260101-000000-a")
    run_dir(out / "bench" / "suite" / "method" / "seed-0" / "20260101-000000-deep")
    assert Folder.find(str(out / "20260101-000000-a"), tmp_path / "elsewhere").path == out / "20260101-000000-a"
    assert Folder.find("20260101-000000-a", out).path == out / "20260101-000000-a"
    assert Folder.find("20260101-000000-deep", out).path.parent.name == "seed-0"


def test_find_says_when_a_name_is_ambiguous_or_unknown(tmp_path):
    run_dir(tmp_path / "one" / "same")
    run_dir(tmp_path / "two" / "same")
    with pytest.raises(RunStoreError, match="2 run folders are named 'same'"):
        Folder.find("same", tmp_path)
    with pytest.raises(RunStoreError, match="no run folder 'other'"):
        Folder.find("other", tmp_path)


def test_a_fixture_run_reads_with_no_problems(tmp_path):
    shutil.copytree(FIXTURES / "runs-before-engine" / "policy", tmp_path / "policy")
    folder = Folder(tmp_path / "policy")
    assert [r["id"] for r in folder.candidates] == ["r00c0"]
    assert folder.events()[0]["event"] == "run_start"
    assert folder.calls() == ([1], [1]) and folder.problems == []


# -- score_text -----------------------------------------------------------------------------
def test_score_text_words_a_score_and_its_absence():
    assert score_text({"outcome": "timeout"}) == "no score (timeout)"
    assert score_text({}) == "no score (?)"
    assert score_text({"score": {"mean_return": 4866.666, "std_return": 21.921, "success_rate": 1.0}}) == (
        "mean return 4866.67 ± 21.92, success rate 1.00")
    assert score_text({"score": {"mean_return": 5.0, "std_return": None, "success_rate": None}}) == (
        "mean return 5.00 ± 0.00")


def test_score_text_says_when_the_cascade_stopped_a_candidate():
    record = {"score": {"mean_return": 1.0, "std_return": 0.0},
              "evaluation": {"stage": {"passed": False, "episodes": 2, "of": 10}}}
    assert score_text(record) == "mean return 1.00 ± 0.00 (stopped after 2 of 10 episodes)"
    record["evaluation"]["stage"]["passed"] = True
    assert score_text(record) == "mean return 1.00 ± 0.00"
