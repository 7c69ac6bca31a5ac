"""``files.atomic_path``: a destination is either the old file or the complete new one, never a half file."""

from __future__ import annotations

import pytest

from keras_srgan.files import atomic_path, is_image_file, write_atomic_text


def test_success_renames_into_place_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "a.txt"
    write_atomic_text(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failure_keeps_the_old_file_and_removes_temporaries_with_companions(tmp_path):
    target = tmp_path / "model.xml"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target, companions=(".bin",)) as tmp:
        tmp.write_text("half")
        tmp.with_suffix(".bin").write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.xml"]


def test_companions_move_with_the_main_file(tmp_path):
    with atomic_path(tmp_path / "m.xml", companions=(".bin",)) as tmp:
        tmp.write_text("xml")
        tmp.with_suffix(".bin").write_text("bin")
    assert (tmp_path / "m.xml").read_text() == "xml" and (tmp_path / "m.bin").read_text() == "bin"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml"]


def test_image_file_kinds():
    assert is_image_file("a/B.PNG") and is_image_file("x.tiff")
    assert not is_image_file(".tmp-1-a.png") and not is_image_file("notes.txt")
    assert not is_image_file("x.tiff", (".png", ".jpg"))
