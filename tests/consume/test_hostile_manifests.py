"""Manifests edited by hand or by an attacker: every command that reads one refuses it with one
line and exit 2 (`manifest validate`: exit 1, it reports), before any request or local write.

A URL whose key has a '..' part names one object to S3 and another to curl, requests and
browsers; a manifest nested thousands of levels deep is no manifest at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_unclean_keys import assert_refused, files, versions
from tests.conftest import Result, Workspace

HOST = "https://{bucket}.s3.us-west-2.amazonaws.com/"


def readers(manifest: Path, cache: Path) -> dict[str, list[str]]:
    """Each command that reads a manifest, with its arguments."""
    return {
        "verify": ["verify", str(manifest), "--deep"],
        "fetch": ["fetch", str(manifest), "--to", str(cache)],
        "notes": ["notes", str(manifest), str(manifest)],
        "export": ["export", "file-manifest", str(manifest), "-o", str(cache / "rows.csv")],
        "manifest validate": ["manifest", "validate", str(manifest)],
    }


@pytest.fixture
def released(cli, workspace: Workspace, aws_env) -> Workspace:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    return workspace


def refused_by_every_reader(
    cli, workspace: Workspace, s3_client: Any, manifest: Path, *expected: str
) -> None:
    cache = workspace.root.parent / "cache"
    before = versions(s3_client, workspace.bucket), files(workspace.root)
    for command, args in readers(manifest, cache).items():
        result: Result = cli(*args, cwd=workspace.root)
        if command == "manifest validate":
            assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
            assert all(text in result.stderr for text in expected), result.stderr
        else:
            assert_refused(result, f"error: {manifest}: ", *expected)
        assert not cache.exists(), command  # nothing fetched, no CSV, no state store
        assert (versions(s3_client, workspace.bucket), files(workspace.root)) == before


# a URL key (or a path) edited in, and what each reader says of it
EDITS = {
    "demo-project/data/../../etc/s101.nwb": "has a '..' part",
    "demo-project/data/%2e%2e/%2E%2E/etc/s101.nwb": "has a '..' part",
    "demo-project/./data/s101.nwb": "has a '.' part",
    "demo-project//data/s101.nwb": "has an empty part ('//')",
    "demo-project/data%5C..%5Cs101.nwb": "holds a backslash",
    "path: data/./s101.nwb": "has a '.' part",
}


@pytest.mark.slow
def test_a_url_or_path_that_readers_read_as_another_key_is_refused(
    cli, released: Workspace, s3_client, tmp_path: Path
) -> None:
    for edit, problem in EDITS.items():
        document = json.loads(released.manifest_path("0.1.0").read_text())
        entry = document["data_files"]["101"]
        if edit.startswith("path: "):
            entry["path"] = edit.removeprefix("path: ")
            says = f"data_files/101: path {entry['path']!r} {problem}"
        else:  # its path still says data/s101.nwb
            entry["url"] = HOST.format(bucket=released.bucket) + edit
            says = f"data_files/101: url {entry['url']!r}: the key it names"
        edited = tmp_path / "edited.json"
        edited.write_text(json.dumps(document))
        refused_by_every_reader(cli, released, s3_client, edited, says, problem)


@pytest.mark.slow
def test_a_manifest_nested_200000_deep_is_refused(
    cli, released: Workspace, s3_client, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    for start, end in (("[", "]"), ('{"a":', "}")):
        deep.write_text(start * 200_000 + "1" + end * 200_000)
        refused_by_every_reader(
            cli, released, s3_client, deep, "JSON nested too deeply to read", "is this a publishkit"
        )
