"""Bad conversion inputs are refusals: nothing outside the workspace is read or written, no
error quotes a file's content, the sessions table is read strictly, and ids DANDI would refuse
are refused from the sessions table before anything converts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SECRET = "s3cr3t-token-outside-the-workspace"


@pytest.fixture
def study(cli, tmp_path: Path) -> Path:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    return workspace


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the workspace whose files hold SECRET."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text(f"time,{SECRET}\n0.0,1.0\n")
    (folder / "hostname").write_text(f"{SECRET}\n")
    return folder


def files_of(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if ".publishkit" not in p.parts}


def refused(cli, workspace: Path, *args: str) -> str:
    """The one line of a refusal (exit 2), which quotes no file's content."""
    result = cli(*args, "-w", str(workspace))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    return result.stderr.strip()


def set_config(study: Path, conversion: str = "", rest: str = "") -> None:
    (study / "publishkit.yaml").write_text(
        f"project: study\nconversion:\n  template: timeseries\n{conversion}{rest}"
    )


@pytest.mark.parametrize("target", ["secret.csv", "hostname"])
def test_a_row_source_linked_outside_is_not_read(
    cli, study: Path, outside: Path, target: str
) -> None:
    for name in ("ts01_signals.csv", "ts02_signals.csv"):
        (study / "data" / name).unlink()
        (study / "data" / name).symlink_to(outside / target)
    result = cli("convert", "-w", str(study), "--format", "json")
    assert result.exit_code == 1
    assert SECRET not in result.stdout + result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert rows[0]["column"] == "source"
    assert (
        f"source: source file data/ts01_signals.csv: {study.resolve()}/data/ts01_signals.csv is a "
        f"symlink to {outside.resolve() / target}, outside the workspace" in rows[0]["reason"]
    )
    assert not list((study / "nwb").glob("*.nwb"))


def test_a_sessions_table_outside_is_not_read(cli, study: Path, outside: Path) -> None:
    before = files_of(study)
    set_config(study, f"  sessions: {outside / 'secret.csv'}\n")
    line = refused(cli, study, "convert")
    says = f"publishkit.yaml line 4: conversion.sessions: {outside / 'secret.csv'} is outside"
    assert says in line

    set_config(study, "  sessions: ../outside/secret.csv\n")
    assert "line 4: conversion.sessions:" in refused(cli, study, "convert")

    set_config(study, "  sessions: linked.csv\n")
    (study / "linked.csv").symlink_to(outside / "secret.csv")
    line = refused(cli, study, "convert")
    assert f"linked.csv is a symlink to {outside.resolve() / 'secret.csv'}, outside" in line
    assert files_of(study) - before == {study / "publishkit.yaml", study / "linked.csv"} - before


@pytest.mark.parametrize(
    ("conversion", "rest", "command", "says"),
    [
        ("  output_dir: ../x\n", "", "convert", "line 4: conversion.output_dir: "),
        ("  files_table: ../x/files.csv\n", "", "convert", "line 4: conversion.files_table: "),
        ("", "dandi:\n  folder: ../y\n", "organize", "line 5: dandi.folder: "),
        ("", "dandi:\n  folder: ../y\n", "convert", "line 5: dandi.folder: "),
    ],
)
def test_a_folder_outside_is_not_written(
    cli, study: Path, conversion: str, rest: str, command: str, says: str
) -> None:
    set_config(study, conversion, rest)
    before = files_of(study.parent)
    line = refused(cli, study, command)
    assert says in line and "is outside the workspace" in line
    assert files_of(study.parent) == before
    assert not (study.parent / "x").exists() and not (study.parent / "y").exists()


def test_a_dandiset_folder_that_organizes_nothing_is_refused(cli, study: Path) -> None:
    set_config(study, rest="dandi:\n  folder: .\n")
    line = refused(cli, study, "organize")
    assert "line 5: dandi.folder '.' is the workspace itself" in line
    set_config(study, "  output_dir: dandiset/nwb\n")
    line = refused(cli, study, "convert")
    assert "dandi.folder 'dandiset' holds conversion.output_dir 'dandiset/nwb'" in line
    assert not (study / "dandiset").exists()


def test_a_sessions_table_naming_a_column_twice_is_refused_naming_both(cli, study: Path) -> None:
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("sex,age", "subject_id,age", 1))
    line = refused(cli, study, "convert")
    assert f"{sessions} line 1: columns 2 and 3 are both named 'subject_id'" in line
    assert not (study / "nwb").exists()


def test_a_sessions_table_that_is_not_utf8_is_one_line(cli, study: Path) -> None:
    sessions = study / "sessions.csv"
    sessions.write_bytes(sessions.read_bytes().replace(b"Doe, Jane", b"Dupr\xe9, Jane", 1))
    line = refused(cli, study, "convert")
    assert f"{sessions} line 2: byte 0xe9 at offset" in line and "is not UTF-8" in line
    assert "save sessions.csv as UTF-8" in line
    assert not (study / "nwb").exists()


def test_an_id_dandi_would_refuse_is_refused_before_anything_converts(cli, study: Path) -> None:
    set_config(study, rest="dandi:\n  instance: dandi-sandbox\n  dandiset: '000123'\n")
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("M-102", "Maus-ü2", 1))
    line = refused(cli, study, "convert")
    assert (
        "sessions.csv row 2 (line 3): subject_id 'Maus-ü2' would name a dandiset path DANDI "
        "refuses: 'ü' is not allowed" in line
    )
    assert not (study / "nwb").exists()

    sessions.write_text(sessions.read_text().replace("Maus-ü2", "M 102.b_c", 1))  # dandi: M-102-b-c
    result = cli("convert", "-w", str(study))
    assert result.exit_code == 0, result.stderr


def test_a_source_table_naming_a_column_twice_fails_its_row(cli, study: Path) -> None:
    signals = study / "data" / "ts01_signals.csv"
    header, rest = signals.read_text().split("\n", 1)
    columns = header.split(",")
    signals.write_text(",".join([*columns, columns[-1]]) + "\n" + rest.replace("\n", ",0\n"))
    result = cli("convert", "-w", str(study), "--format", "json")
    assert result.exit_code == 1
    failed = [r for r in json.loads(result.stdout)["rows"] if r["status"] == "failed"]
    n = len(columns)
    assert [r["row"] for r in failed] == [1]
    assert (
        f"ts01_signals.csv: columns {n} and {n + 1} are both named {columns[-1]!r}"
        in (failed[0]["reason"])
    )


def test_a_value_that_is_not_a_number_is_named_by_its_row_not_quoted(cli, study: Path) -> None:
    signals = study / "data" / "ts01_signals.csv"
    lines = signals.read_text().split("\n")
    cells = lines[2].split(",")
    lines[2] = ",".join([*cells[:-1], SECRET])
    signals.write_text("\n".join(lines))
    result = cli("convert", "-w", str(study), "--format", "json")
    assert result.exit_code == 1
    assert SECRET not in result.stdout + result.stderr
    assert "is not numeric (data row 2)" in result.stdout


def test_a_template_linked_from_outside_the_templates_folder_is_not_read(
    cli, study: Path, outside: Path
) -> None:
    (outside / "mine").mkdir()
    (outside / "mine" / "template.yaml").write_text(f"name: mine\n# {SECRET}\n")
    (study / "tpl").mkdir()
    (study / "tpl" / "mine").symlink_to(outside / "mine", target_is_directory=True)
    set_config(study, "  templates_dir: tpl\n")
    (study / "publishkit.yaml").write_text(
        (study / "publishkit.yaml").read_text().replace("template: timeseries", "template: mine")
    )
    line = refused(cli, study, "convert")
    assert f"template 'mine': {study}/tpl/mine is a symlink to {outside.resolve() / 'mine'}" in line
    assert not (study / "nwb").exists()
