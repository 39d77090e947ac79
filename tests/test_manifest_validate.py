"""`publishkit manifest validate FILE` against schemas/manifest.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_notes import NEW


def test_valid(cli, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(NEW))
    result = cli("manifest", "validate", str(path))
    assert result.exit_code == 0
    assert "valid manifest v0.2.0 of proj (2 metadata, 4 data files)" in result.stdout


def test_presigned_query_string_in_url_is_invalid(cli, tmp_path: Path) -> None:
    doc = json.loads(json.dumps(NEW))
    doc["data_files"]["1"]["url"] += "?X-Amz-Signature=abc"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    result = cli("manifest", "validate", str(path), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert "at /data_files/1/url" in report["error"]


def test_missing_required_key_and_not_json(cli, tmp_path: Path) -> None:
    doc = dict(NEW)
    del doc["manifest_version"]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    result = cli("manifest", "validate", str(path))
    assert result.exit_code == 1
    assert "'manifest_version' is a required property" in result.stderr

    path.write_text("{not json")
    garbled = cli("manifest", "validate", str(path))
    assert garbled.exit_code == 1
    assert "not valid JSON" in garbled.stderr


def test_missing_file_is_bad_usage(cli, tmp_path: Path) -> None:
    result = cli("manifest", "validate", str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    assert "absent.json: no such file" in result.stderr
