"""`publishkit ls` and `publishkit show`: a release's files and summaries, nothing downloaded."""

from __future__ import annotations

import json

import pytest

from tests.reading.conftest import NwbReleases

pytestmark = pytest.mark.slow  # the fixture cuts two releases of real NWB files (~5 s)


def test_ls_lists_files_sizes_and_summary_fields(cli, nwb_releases: NwbReleases) -> None:
    ws = nwb_releases.workspace
    manifest = json.loads(ws.manifest_path("0.2.0").read_text())

    text = cli("ls", str(ws.manifest_path("0.2.0")), cwd=ws.root)
    as_json = cli("ls", f"s3://{ws.bucket}/demo-project", "--format", "json", cwd=ws.root)

    assert text.exit_code == 0, text.stderr
    lines = {line.split()[0]: line for line in text.stdout.splitlines()[1:-1]}
    assert set(lines) == {"sessions", "101", "102"}
    assert "data/s102.nwb" in lines["102"] and "session_id=s102" in lines["102"]
    assert "units=400" in lines["102"] and "units=5" in lines["101"]
    assert as_json.exit_code == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    assert listed["version"] == "0.2.0"
    files = {f["id"]: f for f in listed["files"]}
    assert files["101"]["size"] == manifest["data_files"]["101"]["size"]
    assert files["101"]["fields"]["units"] == 5
    assert files["101"]["lindi_index"] == manifest["data_files"]["101"]["lindi_index"]


def test_show_prints_one_files_summary_and_objects(cli, nwb_releases: NwbReleases) -> None:
    ws = nwb_releases.workspace
    manifest = str(ws.manifest_path("0.1.0"))

    shown = cli("show", manifest, "102", cwd=ws.root)
    as_json = cli("show", manifest, "102", "--format", "json", cwd=ws.root)
    missing = cli("show", manifest, "999", cwd=ws.root)

    assert shown.exit_code == 0, shown.stderr
    assert "index     lindi/data/s102.nwb.lindi.json" in shown.stdout
    assert "acquisition/signal  TimeSeries  2000x5  float64  V  1000.0 Hz" in shown.stdout
    assert "units  Units" in shown.stdout and "400 rows" in shown.stdout
    summary = json.loads(as_json.stdout)["summary"]
    assert summary["objects"]["acquisition/signal"]["shape"] == [2000, 5]
    assert missing.exit_code == 2
    assert "no file with id '999' in release v0.1.0" in missing.stderr
