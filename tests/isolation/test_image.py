"""promptpo.isolation.image: the sandbox image's tag is a hash of the context files (Dockerfile, worker, wire, guard,
seccomp) and of nothing else, so a promptpo whose worker changed never talks to a stale image. No Docker needed."""

from __future__ import annotations

import re
import shutil

import pytest

import promptpo.isolation.image as image
from promptpo.resources import data_dir


@pytest.fixture
def context(tmp_path, monkeypatch):
    """A copy of sandbox/ that image_tag reads instead of the installed one."""
    copy = shutil.copytree(data_dir("sandbox"), tmp_path / "sandbox")
    monkeypatch.setattr(image, "data_dir", lambda name: copy if name == "sandbox" else data_dir(name))
    return copy


def test_the_tag_names_the_repository_and_a_short_hash():
    tag = image.image_tag()
    assert re.fullmatch(r"promptpo-sandbox:[0-9a-f]{12}", tag)
    assert image.image_tag() == tag


@pytest.mark.parametrize("name", image.CONTEXT_FILES)
def test_any_context_file_changing_changes_the_tag(context, name):
    before = image.image_tag()
    with (context / name).open("ab") as f:
        f.write(b"\n# changed\n")
    assert image.image_tag() != before


def test_files_outside_the_context_do_not_change_the_tag(context):
    before = image.image_tag()
    (context / "notes.txt").write_text("not in the image")
    (context / "__pycache__").mkdir(exist_ok=True)
    (context / "__pycache__" / "worker.cpython-311.pyc").write_bytes(b"\0" * 16)
    for path in context.iterdir():
        if path.is_file() and path.name not in image.CONTEXT_FILES:
            path.write_bytes(path.read_bytes() + b"\n# changed")
    assert image.image_tag() == before


def test_the_tag_does_not_depend_on_where_the_files_are(tmp_path, monkeypatch):
    installed = image.image_tag()
    copy = shutil.copytree(data_dir("sandbox"), tmp_path / "elsewhere" / "sandbox")
    monkeypatch.setattr(image, "data_dir", lambda name: copy)
    assert image.image_tag() == installed


def test_bytes_moved_between_two_files_change_the_tag(context):
    """Each file is hashed with its name and a separator, so moving text from one file's end to the next file's
    start is another image."""
    first, second = image.CONTEXT_FILES[:2]
    before = image.image_tag()
    a, b = (context / first).read_bytes(), (context / second).read_bytes()
    (context / first).write_bytes(a[:-1])
    (context / second).write_bytes(a[-1:] + b)
    assert image.image_tag() != before


def test_a_missing_context_file_is_an_error(context):
    (context / "seccomp.py").unlink()
    with pytest.raises(FileNotFoundError):
        image.image_tag()
