"""promptpo.records.listing: where run folders are (a run's own, a bench's five levels down), newest first, and the
patterns that name them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promptpo.errors import RunStoreError
from promptpo.records.listing import MAX_DEPTH, expand, newest_first, run_folders


def run(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "run.json").write_text('{"env": "x"}')
    return path


def test_a_missing_root_holds_none(tmp_path):
    assert run_folders(tmp_path / "nowhere") == []
    (tmp_path / "file").write_text("")
    assert run_folders(tmp_path / "file") == []


def test_the_root_itself_when_it_is_a_run(tmp_path):
    assert run_folders(run(tmp_path / "r")) == [tmp_path / "r"]


def test_runs_in_path_order_and_a_runs_own_folders_are_not_searched(tmp_path):
    b, a = run(tmp_path / "b"), run(tmp_path / "a")
    run(b / "verifications" / "nested")  # inside a run: not another run
    (tmp_path / "empty").mkdir()
    assert run_folders(tmp_path) == [a, b]


def test_a_benchs_runs_five_levels_down_are_found(tmp_path):
    deep = run(tmp_path / "suite" / "method" / "task" / "seed-0" / "RUN")
    assert run_folders(tmp_path) == [deep]


def test_runs_are_looked_for_down_to_max_depth_and_no_further(tmp_path):
    at_limit = tmp_path.joinpath(*[f"d{i}" for i in range(MAX_DEPTH)])
    too_deep = tmp_path.joinpath("e", *[f"d{i}" for i in range(MAX_DEPTH)])
    assert len(at_limit.relative_to(tmp_path).parts) == MAX_DEPTH
    run(at_limit), run(too_deep)
    assert run_folders(tmp_path) == [at_limit]


def test_symlinks_are_not_followed(tmp_path):
    real = run(tmp_path / "elsewhere" / "r")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(real.parent, root / "link", target_is_directory=True)
    assert run_folders(root) == []
    assert run_folders(tmp_path / "elsewhere") == [real]


def test_newest_first_by_run_id_whatever_folder_holds_it():
    folders = [Path("z/20260101-000000-a"), Path("a/20261206-093651-b"), Path("m/20260601-120000-c")]
    assert newest_first(folders) == [Path("a/20261206-093651-b"), Path("m/20260601-120000-c"),
                                     Path("z/20260101-000000-a")]


def test_newest_first_breaks_ties_by_path_and_keeps_its_input():
    folders = [Path("a/20260101-000000-x"), Path("b/20260101-000000-x")]
    assert newest_first(folders) == [Path("b/20260101-000000-x"), Path("a/20260101-000000-x")]
    assert folders == [Path("a/20260101-000000-x"), Path("b/20260101-000000-x")]
    assert newest_first([]) == []


def test_expand_folders_ids_globs_and_benches_each_once_in_the_order_given(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    a, b = run(out / "20260101-a"), run(out / "20260202-b")
    deep = run(tmp_path / "bench" / "suite" / "m" / "t" / "seed-0" / "20260303-c")
    monkeypatch.chdir(tmp_path)
    assert expand(["20260202-b"], out) == [b]  # an id under out
    assert expand([str(a)], out) == [a]  # a folder
    assert expand(["runs/*"], out) == [Path("runs/20260101-a"), Path("runs/20260202-b")]  # a glob
    assert expand(["bench"], out) == [Path("bench/suite/m/t/seed-0/20260303-c")]  # a folder holding runs
    assert deep.exists()
    both = expand(["20260202-b", str(out)], out)
    assert both == [b, a]  # b first as given, then out's others; b not twice


def test_expand_a_pattern_naming_no_run_is_an_error(tmp_path):
    run(tmp_path / "r")
    with pytest.raises(RunStoreError, match="no run folder matches 'nothing-here'"):
        expand(["r", "nothing-here"], tmp_path)
