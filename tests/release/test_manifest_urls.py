"""Every URL of a real release's manifest is read by curl, requests and browsers as exactly the
key of the object it pins, and a GET of it from the S3 server returns the file's bytes.

A release's paths hold only what the inventory lets through (letters, digits and . _ - ~, names
starting with a dot, dots inside names); names with spaces, unicode, '%', '#', '?' or '+' are
refused there, and their URLs are checked against the server in tests/formats/test_keys.py."""

from __future__ import annotations

import json
from typing import Any

import requests

from publishkit.formats import manifest
from publishkit.formats.keys import key_problem
from publishkit.sandbox.s3 import S3Sandbox
from tests.conftest import Workspace
from tests.formats.test_keys import assert_round_trips

PREFIX = "rel.v1/a-b_c"
PATHS = ["data/s101.nwb", "data/.hidden/a..b~c_d-e.nwb", "data/UPPER.lower.nwb", "x/...nwb"]


def test_every_manifest_url_reads_back_as_its_own_key(
    cli, workspace: Workspace, aws_env, s3_server: S3Sandbox, s3_client: Any
) -> None:
    template = s3_server.endpoint_url + "/{bucket}/{key}"  # path style: the sandbox serves it
    workspace.write_config(extra_s3=f"  prefix: {PREFIX}\n  public_url: {template}\n")
    lines = ["file_id,file_path"]
    for n, path in enumerate(PATHS):
        (workspace.root / path).parent.mkdir(parents=True, exist_ok=True)
        (workspace.root / path).write_bytes(f"file {n} ".encode() * (n + 1))
        lines.append(f"{n},{path}")
    (workspace.root / "metadata" / "sessions.csv").write_text("\n".join(lines) + "\n")
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    document = json.loads(workspace.manifest_path("0.1.0").read_text())

    entries = [*document["metadata_files"].values(), *document["data_files"].values()]
    assert len(entries) == 1 + len(PATHS)
    for entry in entries:
        key = f"{PREFIX}/{entry['path']}"
        assert key_problem(key) is None
        assert manifest.locate(entry["url"], template, workspace.bucket).key == key
        assert_round_trips(entry["url"], key, before_key=f"{workspace.bucket}/")
        table = entry["path"] == "project_metadata/sessions.csv"
        assert table or entry["path"] in PATHS
        on_disk = "metadata/sessions.csv" if table else entry["path"]
        local = (workspace.root / on_disk).read_bytes()
        pinned = requests.get(entry["url"], params={"versionId": entry["version_id"]}, timeout=10)
        assert (pinned.status_code, pinned.content) == (200, local), entry["url"]
        current = s3_client.get_object(Bucket=workspace.bucket, Key=key)["Body"].read()
        assert current == local
