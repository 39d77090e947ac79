"""dandiset.yaml checked offline as the archive checks a dandiset at publish."""

from __future__ import annotations

import json
from pathlib import Path

from publishkit.dandi.metadata import ServerInfo, check_metadata
from tests.dandi.test_version_publish import GOOD


def test_the_starting_file_lists_what_to_fill_in(cli, tmp_path: Path) -> None:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    result = cli("dandi", "metadata", "check", "dandiset.yaml", "-f", "json", cwd=workspace)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    errors = {
        p["field"]: (p["line"], p["fix"]) for p in report["problems"] if p["severity"] == "error"
    }
    assert set(errors) == {"name", "description", "contributor", "license"}
    text = (workspace / "dandiset.yaml").read_text().splitlines()
    for field, (line, fix) in errors.items():
        assert text[line - 1].startswith(f"{field}:") and fix


def test_the_instance_decides_the_licenses_and_a_schema_version_apart_is_told(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dandiset.yaml"
    path.write_text(GOOD + "id: DANDI:000001/draft\nreleaseNotes: mine\n")
    server = ServerInfo(schema_version="0.7.0", licenses=("spdx:CC0-1.0",))
    report = check_metadata(path=path, dandiset="000001", server=server, instance="dandi")
    assert not report.ok
    (refused,) = report.errors
    assert (refused.field, refused.line) == ("license[0]", 9)
    assert refused.message == "license 'spdx:CC-BY-4.0' is not one of the instance's licenses"
    assert refused.fix == "use one of spdx:CC0-1.0"
    warnings = {p.field: p.message for p in report.problems if p.severity == "warning"}
    assert warnings["id"] == "id is ignored: the archive computes it"
    assert warnings["releaseNotes"] == (
        "releaseNotes is ignored: the archive sets it from the notes publishkit sends with each "
        "publish"
    )
    assert warnings[""].startswith("dandi uses DANDI schema 0.7.0, the installed dandischema")
    same = ServerInfo(schema_version=report.schema_version, licenses=("spdx:CC-BY-4.0",))
    path.write_text(GOOD)
    assert (
        check_metadata(path=path, dandiset="000001", server=same, instance="dandi").problems == ()
    )
