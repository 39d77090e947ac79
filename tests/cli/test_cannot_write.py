"""Where a command cannot write, it refuses in one line naming the path and the fix, before
its work when that can be known: never "internal error", never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Result, Workspace
from tests.mounts import full_disk, read_only_view, tmpfs
from tests.nwbfactory import write_nwb


def _one_line(result: Result, exit_code: int = 2) -> str:
    lines = result.stderr.splitlines()
    assert result.exit_code == exit_code and len(lines) == 1, result.stderr
    assert "internal error" not in lines[0] and "Traceback" not in result.stdout
    return lines[0]


@pytest.fixture
def nwb(tmp_path: Path) -> Path:
    path = tmp_path / "first.nwb"
    write_nwb(path)
    return path


def test_inspect_output_a_folder_is_refused_before_inspecting(cli, nwb: Path, tmp_path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    line = _one_line(cli("inspect", str(nwb), "--output", str(folder), cwd=tmp_path))
    assert line.startswith(f"error: {folder}: is a folder: cannot write the report there")
    assert f"(fix: name a file, e.g. {folder / 'report.txt'})" in line
    assert list(folder.iterdir()) == []


def test_inspect_output_on_a_read_only_disk_is_refused(cli, nwb: Path, tmp_path) -> None:
    with tmpfs(tmp_path / "ro", read_only=True) as ro:
        line = _one_line(cli("inspect", str(nwb), "--output", str(ro / "r.txt"), cwd=tmp_path))
    assert "cannot write the report (Read-only file system)" in line
    assert "choose a folder on a writable disk" in line


def test_export_output_a_folder_is_refused(
    cli, workspace: Workspace, aws_env, tmp_path: Path
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    folder = tmp_path / "out"
    folder.mkdir()
    line = _one_line(cli("export", "file-manifest", "-o", str(folder), cwd=workspace.root))
    assert line.startswith(f"error: {folder}: is a folder: cannot write the file manifest")
    assert "file_manifest.csv" in line
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("command", ["init", "demo"])
def test_init_and_demo_on_a_read_only_disk_are_refused(cli, tmp_path: Path, command: str) -> None:
    with tmpfs(tmp_path / "ro", read_only=True) as ro:
        args = ["init", str(ro / "ws"), "-t", "timeseries"]
        if command == "demo":
            args = ["demo", "--dir", str(ro / "ws")]
        line = _one_line(cli(*args, cwd=tmp_path))
    assert f"{ro / 'ws'}: cannot write the" in line
    assert "(Read-only file system)" in line and "writable disk" in line


def test_fetch_state_database_on_a_full_disk_says_disk_full(
    cli, workspace: Workspace, aws_env, tmp_path: Path
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    manifest = str(workspace.manifest_path("0.1.0"))
    with full_disk(tmp_path / "full") as full:
        line = _one_line(cli("fetch", manifest, "--to", str(full), cwd=workspace.root), 1)
        assert "the disk is full" in line and "free some space" in line
        assert "chmod" not in line
        written = [p for p in full.rglob("*") if p.is_file() and p.name != "filler"]
        assert not any(p.stat().st_size for p in written)  # nothing fetched


@pytest.mark.parametrize("command", ["convert", "status"])
def test_a_workspace_on_a_read_only_disk_is_one_line(cli, tmp_path: Path, command: str) -> None:
    """Wherever a command meets a read-only or full disk, one line says so (the CLI's error
    boundary), here the workspace's state folder."""
    assert cli("init", str(tmp_path / "study"), "-t", "timeseries").exit_code == 0
    with read_only_view(tmp_path / "study", tmp_path / "ro") as ro:
        line = _one_line(cli(command, "-w", str(ro), cwd=tmp_path))
    assert line.startswith(f"error: {ro / '.publishkit'}: cannot write files (Read-only file")
    assert "choose a folder on a writable disk" in line
