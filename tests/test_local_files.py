"""A file is put in place whole or not at all; paths are shown relative to the workspace."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from publishkit.local_files import FolderSyncs, put_in_place, shown, write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "a.nwb"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), put_in_place(target) as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("killed halfway")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nwb"]


def test_a_write_replaces_the_file_and_clears_what_a_killed_run_left(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.nwb"
    target.parent.mkdir()
    (target.parent / ".a.nwb.part").write_bytes(b"left by a SIGKILLed run")
    with put_in_place(target) as partial:
        assert not partial.exists()
        partial.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.nwb"]


def test_racing_writers_each_get_a_partial_of_their_own(tmp_path: Path) -> None:
    target = tmp_path / "spec.pickle"
    with put_in_place(target, racing=True) as one, put_in_place(target, racing=True) as two:
        assert one != two
        one.write_bytes(b"same")
        two.write_bytes(b"same")
    assert target.read_bytes() == b"same"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.pickle"]


def test_paths_are_shown_relative_to_the_workspace_when_inside_it(tmp_path: Path) -> None:
    assert shown(tmp_path / "nwb" / "a.nwb", tmp_path) == "nwb/a.nwb"
    assert shown(Path("/elsewhere/a.nwb"), tmp_path) == "/elsewhere/a.nwb"
    assert shown(tmp_path / "a.nwb", None) == str(tmp_path / "a.nwb")


@pytest.fixture
def umask_027() -> Iterator[int]:
    """A umask other than the usual one, so a mode made up rather than given by it shows."""
    before = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(before)


def test_many_writers_at_once_each_get_the_mode_a_plain_create_gets(
    tmp_path: Path, umask_027: int
) -> None:
    """Modes right under many writers at once, one path shared by all of them included. (The
    race of a toggled umask is a microsecond wide: the next test is the one that sees it.)"""
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o666 & ~umask_027

    def writer(n: int) -> None:
        for i in range(60):
            write_atomic(tmp_path / f"w{n}" / f"{i}.json", f"{n} {i}\n")
            write_atomic(tmp_path / "shared.json", "same\n")  # one path, many writers

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two bytecodes
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(writer, range(8)))
    finally:
        sys.setswitchinterval(switch)
    written = [p for p in tmp_path.rglob("*.json")]
    assert len(written) == 8 * 60 + 1
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {expected}
    assert (tmp_path / "shared.json").read_text() == "same\n"
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no partial left behind
    assert os.umask(umask_027) == umask_027  # and the process's umask is as it was


def test_writing_never_changes_the_process_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.umask is the process's: set to 0 for a moment to read it, any other thread's create in
    that moment (a worker's HDF5 file, a fetched file) gets mode 0o666. A spy that calls through."""
    calls: list[int] = []
    real_umask = os.umask

    def umask(mask: int) -> int:
        calls.append(mask)
        return real_umask(mask)

    monkeypatch.setattr(os, "umask", umask)
    write_atomic(tmp_path / "a.json", "{}\n")
    with put_in_place(tmp_path / "b.nwb") as partial:
        partial.write_bytes(b"b")
    assert calls == []


def test_a_put_in_place_is_synced_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename exposes a whole file after a crash only if its bytes reached the disk first;
    an os.fsync seen at the OS boundary is the only way to see that without pulling the plug."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("sync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "sync file")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_atomic(tmp_path / "a.json", "{}\n")
    assert events == ["sync file", "rename", "sync dir"]
    assert (tmp_path / "a.json").read_text() == "{}\n"
    events.clear()  # a cache's file (a LINDI index built before): renamed whole, not synced
    write_atomic(tmp_path / "cached.json", "[]", durable=False)
    assert events == ["rename"] and (tmp_path / "cached.json").read_text() == "[]"


def test_files_put_in_place_together_sync_each_file_and_each_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many files at once (a fetch of small files): each file's bytes reach the disk before its
    rename, so no name ever shows a torn file; each folder is synced once, by `sync`, for all
    the names it gained (an os.fsync at the OS boundary is the only way to see it)."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        events.append(f"sync {Path(path).relative_to(tmp_path).as_posix() or '.'}")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(f"rename {Path(dst).relative_to(tmp_path).as_posix()}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    folders = FolderSyncs()
    for name in ("a/1", "a/2", "b/3"):
        with put_in_place(tmp_path / name, racing=True, folders=folders) as partial:
            partial.write_bytes(name.encode())
        (synced_partial,) = [e for e in events if e.startswith("sync ") and ".part" in e]
        assert events == [synced_partial, f"rename {name}"]  # no folder synced yet
        events.clear()

    folders.sync()
    assert sorted(events) == ["sync a", "sync b"]
    events.clear()
    folders.sync()  # nothing new: nothing synced again
    assert events == []
    assert (tmp_path / "a" / "2").read_bytes() == b"a/2"
