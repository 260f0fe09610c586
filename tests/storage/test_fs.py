from __future__ import annotations

import os

import pytest

from storage import layout
from storage.fs import FsStorage


def test_fs_write_leaves_no_temporary_file_and_is_atomic_on_failure(tmp_path, monkeypatch):
    storage = FsStorage(tmp_path)
    storage.write("photos/a.png", b"old")

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        storage.write("photos/a.png", b"new")
    monkeypatch.undo()
    assert storage.read("photos/a.png") == b"old"
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["a.png"]


def test_ids_are_128_random_bits_in_hex_and_checked():
    ids = {layout.new_id() for _ in range(100)}
    assert len(ids) == 100 and all(layout.ID_PATTERN.fullmatch(i) for i in ids)
    for bad in ["../../etc/passwd", "A" * 32, "a" * 31, "a" * 33, None, "a" * 31 + "/"]:
        with pytest.raises(layout.InvalidId):
            layout.check_id(bad)
    assert layout.photo_path("a" * 32, "png") == f"photos/{'a' * 32}.png"
    assert layout.report_path("a" * 32).endswith("_marks.json")


def test_reads_retry_while_the_file_system_answers_estale(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    storage = FsStorage(tmp_path)
    storage.write("photos/a.png", b"whole")
    real_read, failures = Path.read_bytes, iter([True, True, False])

    def stale_then_fine(self):
        if next(failures, False):
            raise OSError(errno.ESTALE, "Stale file handle")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", stale_then_fine)
    assert storage.read("photos/a.png") == b"whole"


def test_a_lasting_estale_is_an_error_in_the_end(tmp_path, monkeypatch):
    import errno

    from storage import fs

    def always_stale():
        raise OSError(errno.ESTALE, "Stale file handle")

    with pytest.raises(OSError):
        fs.retrying_stale(always_stale, seconds=0.05)
