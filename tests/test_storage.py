"""Durable writes: all or nothing, and leftovers of killed runs are swept on resume."""

import pytest

from lipnet import storage


def test_atomic_write_leaves_old_file_intact_when_writing_fails(tmp_path):
    target = tmp_path / "out.txt"
    storage.atomic_write_text(target, "old")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        storage.atomic_write(target, broken)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_remove_partial_sweeps_only_temporary_files(tmp_path):
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / ".bbaf2n.npy.k3j2h1.tmp").write_bytes(b"half")  # what SIGKILL leaves
    (tmp_path / "s1" / "bbaf2n.npy").write_bytes(b"done")
    (tmp_path / "notes.tmp").write_text("a user's file, not hidden: kept")
    assert storage.remove_partial(tmp_path) == 0  # not recursive: s1/ untouched
    assert storage.remove_partial(tmp_path, recursive=True) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bbaf2n.npy", "notes.tmp", "s1"]
