"""`publishkit organize`: stable DANDI names from dandi-cli's own code, collisions named."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.nwbfactory import write_nwb


@pytest.fixture
def study(cli, tmp_path: Path) -> Path:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    assert cli("convert", "-w", str(workspace)).exit_code == 0
    return workspace


def organize(cli, workspace: Path) -> tuple[int, dict, str]:
    result = cli("organize", "-w", str(workspace), "--format", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}, result.stderr


def test_organize_lays_out_files_and_records_the_mapping(cli, study: Path) -> None:
    code, report, _ = organize(cli, study)
    assert code == 0
    paths = {f["source"]: f["dandi_path"] for f in report["files"]}
    assert paths == {
        "nwb/sub-M-101_ses-ts01.nwb": "sub-M-101/sub-M-101_ses-ts01.nwb",
        "nwb/sub-M-102_ses-ts02.nwb": "sub-M-102/sub-M-102_ses-ts02.nwb",
    }
    for source, name in paths.items():
        assert (study / "dandiset" / name).read_bytes() == (study / source).read_bytes()
    with sqlite3.connect(study / ".publishkit" / "state.sqlite") as db:
        recorded = dict(db.execute("SELECT source, dandi_path FROM organized"))
    assert recorded == paths
    again = organize(cli, study)[1]
    assert again["counts"] == {"created": 0, "updated": 0, "unchanged": 2, "removed": 0}


def test_an_unchanged_file_is_not_read_again(cli, study: Path, monkeypatch) -> None:
    """Names are kept by content: a second run reads only the file whose content changed."""
    from publishkit.dandi import organize as stage

    first = {f["source"]: f["dandi_path"] for f in organize(cli, study)[1]["files"]}
    read = []
    extract = stage._metadata
    monkeypatch.setattr(stage, "_metadata", lambda path: read.append(path.name) or extract(path))
    assert organize(cli, study)[1]["counts"]["unchanged"] == 2
    assert read == []
    write_nwb(study / "nwb" / "sub-M-102_ses-ts02.nwb", subject_id="M-102", session_id="ts02")
    again = organize(cli, study)[1]
    assert read == ["sub-M-102_ses-ts02.nwb"]
    assert {f["source"]: f["dandi_path"] for f in again["files"]} == first
    assert again["counts"]["updated"] == 1


def test_names_do_not_depend_on_the_batch(cli, study: Path) -> None:
    first = {f["source"]: f["dandi_path"] for f in organize(cli, study)[1]["files"]}
    (study / "nwb" / "sub-M-102_ses-ts02.nwb").unlink()
    second = organize(cli, study)[1]
    kept = {f["source"]: f["dandi_path"] for f in second["files"] if f["action"] != "removed"}
    assert kept == {"nwb/sub-M-101_ses-ts01.nwb": first["nwb/sub-M-101_ses-ts01.nwb"]}
    assert second["counts"]["removed"] == 1
    assert not (study / "dandiset" / first["nwb/sub-M-102_ses-ts02.nwb"]).exists()


def test_a_collision_names_the_colliding_files(cli, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write_nwb(workspace / "a.nwb", subject_id="m1", session_id="s1")
    write_nwb(workspace / "b.nwb", subject_id="m1", session_id="s1")
    write_nwb(workspace / "c.nwb", subject_id="m2", session_id="s2")
    (workspace / "publishkit.yaml").write_text("project: p\n")
    code, _, stderr = organize(cli, workspace)
    assert code == 2
    assert "a.nwb" in stderr and "b.nwb" in stderr and "would all be named sub-m1/" in stderr
    assert not (workspace / "dandiset").exists()


def test_session_id_is_required_by_default(cli, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write_nwb(workspace / "a.nwb", subject_id="m1", session_id=None)
    (workspace / "publishkit.yaml").write_text("project: p\n")
    code, _, stderr = organize(cli, workspace)
    assert code == 2
    assert "1 file(s) lack session_id, which DANDI names need: a.nwb" in stderr
    (workspace / "publishkit.yaml").write_text(
        "project: p\ndandi:\n  required_fields: [subject_id]\n  files_mode: symlink\n"
    )
    code, report, _ = organize(cli, workspace)
    assert code == 0
    (only,) = report["files"]
    target = workspace / "dandiset" / only["dandi_path"]
    assert target.is_symlink() and target.resolve() == (workspace / "a.nwb").resolve()
