"""`publishkit export file-manifest`: one row per data file, pinned S3 URL, DANDI columns."""

from __future__ import annotations

import csv
import json

from tests.conftest import Workspace


def test_file_manifest_pins_each_data_file(cli, workspace: Workspace, aws_env) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    out = workspace.root / "file_manifest.csv"
    result = cli("export", "file-manifest", "--output", str(out), cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert "2 data file(s) from demo-project_project_manifest_v0.1.0.json" in result.stdout
    rows = list(csv.DictReader(out.open()))
    document = json.loads(workspace.manifest_path("0.1.0").read_text())
    assert [r["file_id"] for r in rows] == ["101", "102"]
    for row in rows:
        entry = document["data_files"][row["file_id"]]
        assert row["s3_url"] == f"{entry['url']}?versionId={entry['version_id']}"
        assert row["file_path"] == f"data/s{row['file_id']}.nwb"
        assert row["file_hash"] == entry["file_hash"]
        assert row["archive_uri"] == "" and row["dandiset_id"] == ""


def test_without_a_release(cli, workspace: Workspace) -> None:
    result = cli("export", "file-manifest", cwd=workspace.root)
    assert result.exit_code == 2
    assert "no release manifests yet" in result.stderr
