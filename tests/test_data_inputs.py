"""The inputs in tests/data: every good one is accepted, every bad one refused in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Workspace

DATA = Path(__file__).resolve().parent / "data"
BAD_MANIFESTS = sorted((DATA / "bad").glob("manifest-*.json"))
BAD_TABLES = sorted((DATA / "bad").glob("sessions-*.csv"))


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert "internal error" not in text and "Traceback" not in text
    return lines[0]


def test_the_good_manifest_is_valid(cli) -> None:
    path = DATA / "good" / "demo-project_project_manifest_v0.1.0.json"
    result = cli("manifest", "validate", str(path))
    assert result.exit_code == 0, result.stderr
    assert "valid manifest v0.1.0 of demo-project (1 metadata, 2 data files)" in result.stdout


@pytest.mark.parametrize("path", BAD_MANIFESTS, ids=lambda p: p.stem)
def test_each_bad_manifest_is_refused(cli, path: Path) -> None:
    checked = cli("manifest", "validate", str(path))
    assert checked.exit_code == 1
    line = one_error_line(checked.stderr)
    assert path.name in line
    good = DATA / "good" / "demo-project_project_manifest_v0.1.0.json"
    compared = cli("notes", str(good), str(path))
    assert compared.exit_code == 2
    one_error_line(compared.stderr)


def test_the_good_table_releases(cli, workspace: Workspace, aws_env) -> None:
    shutil.copy(DATA / "good" / "sessions.csv", workspace.root / "metadata" / "sessions.csv")
    plan = cli("release", "--plan", "--version", "0.1.0", cwd=workspace.root)
    assert plan.exit_code == 0, plan.stdout + plan.stderr


@pytest.mark.parametrize("path", BAD_TABLES, ids=lambda p: p.stem)
def test_each_bad_table_is_refused_naming_it(
    cli, workspace: Workspace, aws_env, path: Path
) -> None:
    shutil.copy(path, workspace.root / "metadata" / "sessions.csv")
    result = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 2
    assert "sessions.csv" in one_error_line(result.stderr)
