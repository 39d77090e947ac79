"""`publishkit fetch`: download a release at its pinned versions, checked, re-using content."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import Workspace


@pytest.fixture
def two_releases(cli, workspace: Workspace, aws_env) -> Workspace:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    workspace.set_sessions({"101": b"session 101 " * 1000, "102": b"edited", "103": b"new"})
    assert cli("release", "--version", "0.2.0", cwd=workspace.root).exit_code == 0
    return workspace


def test_fetch_gets_pinned_versions_and_links_what_it_has(
    cli, two_releases: Workspace, tmp_path
) -> None:
    cache = tmp_path / "cache"
    first = cli(
        "fetch", str(two_releases.manifest_path("0.1.0")), "--to", str(cache), cwd=two_releases.root
    )
    assert first.exit_code == 0, first.stderr
    old = cache / "demo-project-0.1.0" / "data" / "s102.nwb"
    assert old.read_bytes() == b"session 102 " * 2000  # the pinned, older version

    second = cli(
        "fetch",
        str(two_releases.manifest_path("0.2.0")),
        "--to",
        str(cache),
        "--format",
        "json",
        cwd=two_releases.root,
    )

    assert second.exit_code == 0, second.stderr
    report = json.loads(second.stdout)
    outcomes = {f["path"]: f["outcome"] for f in report["files"]}
    assert outcomes == {
        "demo-project-0.2.0/project_metadata/sessions.csv": "downloaded",
        "demo-project-0.2.0/data/s101.nwb": "linked",
        "demo-project-0.2.0/data/s102.nwb": "downloaded",
        "demo-project-0.2.0/data/s103.nwb": "downloaded",
    }
    linked = cache / "demo-project-0.2.0" / "data" / "s101.nwb"
    assert (
        linked.stat().st_ino == (cache / "demo-project-0.1.0" / "data" / "s101.nwb").stat().st_ino
    )
    assert (cache / "demo-project-0.2.0" / "data" / "s102.nwb").read_bytes() == b"edited"

    again = cli(
        "fetch",
        str(two_releases.manifest_path("0.2.0")),
        "--to",
        str(cache),
        "--format",
        "json",
        cwd=two_releases.root,
    )
    assert json.loads(again.stdout)["counts"]["present"] == 4


def test_content_that_does_not_match_file_hash_is_not_kept(
    cli, two_releases: Workspace, tmp_path
) -> None:
    doc = json.loads(two_releases.manifest_path("0.2.0").read_text())
    doc["data_files"]["103"]["file_hash"] = hashlib.blake2b(b"something else").hexdigest()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    cache = tmp_path / "cache"

    result = cli("fetch", str(bad), "--to", str(cache), cwd=two_releases.root)

    assert result.exit_code == 1
    assert "does not match file_hash" in result.stderr
    folder = cache / "demo-project-0.2.0" / "data"
    assert not (folder / "s103.nwb").exists()
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]
    assert (folder / "s102.nwb").read_bytes() == b"edited"  # the others still arrive


@pytest.mark.parametrize("hostile", ["../../escape.nwb", "/etc/passwd", "data/../../x.nwb"])
def test_keys_landing_outside_dir_are_refused_before_any_download(
    cli, two_releases: Workspace, tmp_path, hostile: str
) -> None:
    doc = json.loads(two_releases.manifest_path("0.2.0").read_text())
    doc["data_files"]["103"]["path"] = hostile
    bad = tmp_path / "hostile.json"
    bad.write_text(json.dumps(doc))
    cache = tmp_path / "cache"

    result = cli("fetch", str(bad), "--to", str(cache), cwd=two_releases.root)

    assert result.exit_code == 2
    assert "would land outside" in result.stderr or "at /data_files/103/path" in result.stderr
    downloaded = [p for p in cache.rglob("*") if p.is_file() and ".publishkit" not in p.parts]
    assert downloaded == []
