"""A file is put in place whole or not at all; paths are shown relative to the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from publishkit.local_files import put_in_place, shown


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
