"""`publishkit fetch`: download a release at its pinned versions, checked, re-using content."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

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
    assert "does not match the manifest: file_hash (blake2b) is " in result.stderr
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


def _fetch_json(cli, manifest: Path, cache: Path, cwd: Path) -> tuple[int, dict[str, str]]:
    """Exit code and outcome per path of `publishkit fetch --format json`."""
    result = cli("fetch", str(manifest), "--to", str(cache), "--format", "json", cwd=cwd)
    report = json.loads(result.stdout)
    return result.exit_code, {f["path"]: f["outcome"] for f in report["files"]}


def _tampered(workspace: Workspace, tmp_path: Path, version: str, edit: Any) -> Path:
    doc = json.loads(workspace.manifest_path(version).read_text())
    edit(doc)
    path = tmp_path / f"tampered-{version}.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("sha256", hashlib.sha256(b"something else").hexdigest(), "sha256 is "),
        ("size", 7, "size is 3, the manifest says 7"),
        ("file_hash", hashlib.blake2b(b"other").hexdigest(), "file_hash (blake2b) is "),
    ],
)
def test_every_digest_the_manifest_records_is_checked_on_download(
    cli, two_releases: Workspace, tmp_path: Path, field: str, value: Any, named: str
) -> None:
    bad = _tampered(
        two_releases, tmp_path, "0.2.0", lambda d: d["data_files"]["103"].update({field: value})
    )
    cache = tmp_path / "cache"

    result = cli("fetch", str(bad), "--to", str(cache), cwd=two_releases.root)

    assert result.exit_code == 1
    assert f"failed: demo-project-0.2.0/data/s103.nwb: s3://{two_releases.bucket}/" in result.stderr
    assert f"downloaded content does not match the manifest: {named}" in result.stderr
    folder = cache / "demo-project-0.2.0" / "data"
    assert sorted(p.name for p in folder.iterdir()) == ["s101.nwb", "s102.nwb"]  # nothing kept


def test_a_changed_sha256_is_not_linked_from_a_file_with_the_same_blake2b(
    cli, two_releases: Workspace, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert _fetch_json(cli, two_releases.manifest_path("0.1.0"), cache, two_releases.root)[0] == 0
    bad = _tampered(
        two_releases, tmp_path, "0.2.0", lambda d: d["data_files"]["101"].update(sha256="0" * 64)
    )

    code, outcomes = _fetch_json(cli, bad, cache, two_releases.root)

    assert code == 1
    assert outcomes["demo-project-0.2.0/data/s101.nwb"] == "failed"  # not "linked"
    assert not (cache / "demo-project-0.2.0" / "data" / "s101.nwb").exists()


def _files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_a_file_fetch_did_not_place_is_refused_by_name(
    cli, two_releases: Workspace, tmp_path
) -> None:
    cache = tmp_path / "cache"
    own = cache / "demo-project-0.2.0" / "data" / "s102.nwb"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"session 102 " * 2000)  # the user's own (0.1.0's content; 0.2.0 pins "edited")
    before = _files_under(cache)
    manifest = str(two_releases.manifest_path("0.2.0"))

    line = _one_error_line(cli("fetch", manifest, "--to", str(cache), cwd=two_releases.root))

    assert line.startswith(f"error: {own}: not this release's content, and not placed there by ")
    assert "--overwrite" in line
    assert {k: v for k, v in _files_under(cache).items() if not k.startswith(".publishkit/")} == (
        before
    )

    as_json = cli("fetch", manifest, "--to", str(cache), "-f", "json", cwd=two_releases.root)
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["error"].startswith(f"{own}: not this release's content")

    replaced = cli("fetch", manifest, "--to", str(cache), "--overwrite", cwd=two_releases.root)
    assert replaced.exit_code == 0, replaced.stderr
    assert own.read_bytes() == b"edited"


def test_a_file_fetch_placed_is_replaced_when_the_release_pins_other_content(
    cli, two_releases: Workspace, tmp_path
) -> None:
    # Two manifests of one version that disagree (one was re-cut, or tampered with): what fetch
    # placed for the first is its own, and is replaced by the second's without --overwrite.
    old = json.loads(two_releases.manifest_path("0.1.0").read_text())
    new = json.loads(two_releases.manifest_path("0.2.0").read_text())
    new["manifest_version"] = "0.1.0"
    recut = tmp_path / "recut.json"
    recut.write_text(json.dumps(new))
    cache = tmp_path / "cache"
    assert _fetch_json(cli, two_releases.manifest_path("0.1.0"), cache, two_releases.root)[0] == 0
    placed = cache / "demo-project-0.1.0" / "data" / "s102.nwb"
    assert placed.read_bytes() == b"session 102 " * 2000
    assert old["data_files"]["102"]["file_hash"] != new["data_files"]["102"]["file_hash"]

    code, outcomes = _fetch_json(cli, recut, cache, two_releases.root)

    assert code == 0
    assert outcomes["demo-project-0.1.0/data/s102.nwb"] == "downloaded"
    assert placed.read_bytes() == b"edited"


def _flip_first_byte_keeping_stat(path: Path) -> None:
    """Corrupt `path` in place: same size, same inode, its mtime put back. A cache keyed by
    (size, mtime_ns, inode) sees no change; only the ctime, which no user can set, moves."""
    before = path.stat()
    time.sleep(0.05)  # the kernel's clock for ctime ticks every few milliseconds
    with open(path, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    keys = ("st_size", "st_mtime_ns", "st_ino")
    assert [getattr(after, k) for k in keys] == [getattr(before, k) for k in keys]
    assert after.st_ctime_ns != before.st_ctime_ns


def test_a_file_corrupted_in_place_with_its_mtime_put_back_is_fetched_again(
    cli, two_releases: Workspace, tmp_path: Path
) -> None:
    # What fetch can tell without reading a file is what its stat says: a change made through
    # the filesystem moves the ctime, even when size, mtime and inode are put back, so such a
    # file is read again and replaced. A change that moves no ctime (the disk itself flipping a
    # bit) is not seen here without reading every file; `publishkit verify --deep` checks the
    # bucket's copies, not this folder.
    # What was changed is no longer what fetch placed: it is refused, by name, as a user's own
    # file would be, and replaced with --overwrite.
    cache = tmp_path / "cache"
    manifest = two_releases.manifest_path("0.1.0")
    assert _fetch_json(cli, manifest, cache, two_releases.root)[0] == 0
    fetched = cache / "demo-project-0.1.0" / "data" / "s102.nwb"
    _flip_first_byte_keeping_stat(fetched)

    refused = cli("fetch", str(manifest), "--to", str(cache), cwd=two_releases.root)
    assert f"error: {fetched}: not this release's content" in _one_error_line(refused)
    result = cli(
        "fetch",
        str(manifest),
        "--to",
        str(cache),
        "--format",
        "json",
        "--overwrite",
        cwd=two_releases.root,
    )
    code = result.exit_code
    outcomes = {f["path"]: f["outcome"] for f in json.loads(result.stdout)["files"]}

    assert code == 0
    assert outcomes["demo-project-0.1.0/data/s102.nwb"] == "downloaded"
    assert outcomes["demo-project-0.1.0/data/s101.nwb"] == "present"  # untouched: not read
    assert fetched.read_bytes() == b"session 102 " * 2000


def test_a_corrupted_file_is_not_hard_linked_into_the_next_release(
    cli, two_releases: Workspace, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert _fetch_json(cli, two_releases.manifest_path("0.1.0"), cache, two_releases.root)[0] == 0
    _flip_first_byte_keeping_stat(cache / "demo-project-0.1.0" / "data" / "s101.nwb")

    code, outcomes = _fetch_json(cli, two_releases.manifest_path("0.2.0"), cache, two_releases.root)

    assert code == 0
    assert outcomes["demo-project-0.2.0/data/s101.nwb"] == "downloaded"
    assert (cache / "demo-project-0.2.0" / "data" / "s101.nwb").read_bytes() == (
        b"session 101 " * 1000
    )


def test_a_release_that_lists_one_file_under_two_ids_is_published_and_fetched(
    cli, workspace: Workspace, aws_env, tmp_path: Path
) -> None:
    sessions = workspace.root / "metadata" / "sessions.csv"
    sessions.write_text(sessions.read_text() + "103,data/s101.nwb,mouse-103\n")
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    doc = json.loads(workspace.manifest_path("0.1.0").read_text())
    assert doc["data_files"]["101"]["path"] == doc["data_files"]["103"]["path"]

    code, outcomes = _fetch_json(cli, workspace.manifest_path("0.1.0"), tmp_path / "c", tmp_path)

    assert code == 0
    assert outcomes["demo-project-0.1.0/data/s101.nwb"] in ("downloaded", "present", "linked")


# --- the folder fetched into ------------------------------------------------------------------


def _one_error_line(result: Any) -> str:
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert "internal error" not in lines[0]
    return lines[0]


def test_to_a_file_is_bad_input(cli, two_releases: Workspace, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    manifest = str(two_releases.manifest_path("0.1.0"))

    line = _one_error_line(cli("fetch", manifest, "--to", str(a_file), cwd=two_releases.root))
    assert line.startswith(f"error: {a_file}: is a file, not a folder to fetch into (fix: ")

    below = a_file / "below"
    line = _one_error_line(cli("fetch", manifest, "--to", str(below), cwd=two_releases.root))
    assert "cannot write the fetched files there (Not a directory)" in line
    assert a_file.read_text() == "x"


def _chattr(flag: str, path: Path) -> bool:
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize("which", ["DIR", "the release folder in it"])
def test_an_immutable_folder_is_bad_input(
    cli, two_releases: Workspace, tmp_path: Path, which: str
) -> None:
    cache = tmp_path / "cache"
    folder = cache if which == "DIR" else cache / "demo-project-0.1.0"
    folder.mkdir(parents=True)
    if shutil.which("chattr") is None or not _chattr("+i", folder):
        pytest.skip("chattr +i is not available here (needs CAP_LINUX_IMMUTABLE and ext4 etc.)")
    try:
        result = cli(
            "fetch",
            str(two_releases.manifest_path("0.1.0")),
            "--to",
            str(cache),
            cwd=two_releases.root,
        )
    finally:
        _chattr("-i", folder)
    line = _one_error_line(result)
    assert "cannot write the fetched files there (Operation not permitted)" in line
    assert "chattr -i" in line
    assert [p for p in cache.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("project", ["../../escaped", "a/b", ".."])
def test_a_project_name_that_is_a_path_writes_nothing_anywhere(
    cli, two_releases: Workspace, tmp_path: Path, project: str
) -> None:
    bad = _tampered(two_releases, tmp_path, "0.1.0", lambda d: d.update(project_name=project))
    cache = tmp_path / "deep" / "cache"
    before = sorted(tmp_path.rglob("*"))

    line = _one_error_line(cli("fetch", str(bad), "--to", str(cache), cwd=two_releases.root))

    assert f"error: {bad}: at /project_name: " in line
    assert sorted(tmp_path.rglob("*")) == before
