"""`verify` checks the LINDI indexes a manifest records, each at its pinned version; `fetch` says
it leaves them in the bucket."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.reading.conftest import set_files, signal

INDEX = "lindi/data/s101.nwb.lindi.json"
INDEX_KEY = f"demo-project/{INDEX}"


@pytest.fixture
def indexed(cli, workspace: Workspace, aws_env) -> Workspace:
    """v0.1.0 of two small NWB files, each with its LINDI index."""
    for path in (workspace.root / "data").glob("*.nwb"):
        path.unlink()
    set_files(workspace, {"101": (signal(1, samples=200), 2), "102": (signal(2, samples=200), 1)})
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "lindi_index_min_mb: 0\n")
    done = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert done.exit_code == 0, done.stderr
    return workspace


def _versions(s3_client, bucket: str) -> list[tuple[str, str]]:
    listed = s3_client.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in listed.get("Versions", []))


def _tampered(ws: Workspace, tmp_path: Path, change) -> Path:
    doc = json.loads(ws.manifest_path("0.1.0").read_text())
    change(doc["data_files"]["101"]["lindi_index"])
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    return path


def test_an_intact_release_checks_its_indexes(cli, indexed: Workspace) -> None:
    for deep in ((), ("--deep",)):
        result = cli(
            "verify", str(indexed.manifest_path("0.1.0")), *deep, "--format", "json",
            cwd=indexed.root,
        )  # fmt: skip
        assert result.exit_code == 0, result.stdout + result.stderr
        paths = [f["path"] for f in json.loads(result.stdout)["files"]]
        assert INDEX in paths and "lindi/data/s102.nwb.lindi.json" in paths


def test_a_deleted_index_version_fails_verify_in_one_line(
    cli, indexed: Workspace, s3_client
) -> None:
    record = json.loads(indexed.manifest_path("0.1.0").read_text())["data_files"]["101"]
    version = record["lindi_index"]["version_id"]
    s3_client.delete_object(Bucket=indexed.bucket, Key=INDEX_KEY, VersionId=version)
    before = _versions(s3_client, indexed.bucket)

    result = cli("verify", str(indexed.manifest_path("0.1.0")), cwd=indexed.root)

    assert result.exit_code == 1
    failed = [line for line in result.stdout.splitlines() if "lindi" in line]
    assert len(failed) == 1 and "missing" in failed[0] and version in result.stdout
    assert "1 of 5 file(s) FAILED" in result.stdout
    assert _versions(s3_client, indexed.bucket) == before


def test_a_wrong_recorded_index_hash_fails_deep_verify(
    cli, indexed: Workspace, tmp_path: Path
) -> None:
    tampered = _tampered(indexed, tmp_path, lambda r: r.update(file_hash="0" * 128))

    shallow = cli("verify", str(tampered), cwd=indexed.root)
    deep = cli("verify", str(tampered), "--deep", cwd=indexed.root)

    assert shallow.exit_code == 0  # as for a data file: only --deep reads the bytes
    assert deep.exit_code == 1
    failed = [line for line in deep.stdout.splitlines() if "lindi" in line]
    assert len(failed) == 1 and "hash-mismatch" in failed[0] and INDEX in failed[0]


def test_a_replaced_latest_index_does_not_matter(cli, indexed: Workspace, s3_client) -> None:
    """The manifest pins a version of the index: a newer one put over it is not what is read."""
    s3_client.put_object(Bucket=indexed.bucket, Key=INDEX_KEY, Body=b'{"refs": {}}')

    result = cli("verify", str(indexed.manifest_path("0.1.0")), "--deep", cwd=indexed.root)

    assert result.exit_code == 0, result.stdout + result.stderr


def test_an_index_reading_another_version_fails_deep_verify(
    cli, indexed: Workspace, s3_client, tmp_path: Path
) -> None:
    """An index whose hash the manifest records but whose references are not at the pinned
    version of its file (e.g. the unpinned URL, which reads whatever is latest)."""
    record = json.loads(indexed.manifest_path("0.1.0").read_text())["data_files"]["101"]
    old = s3_client.get_object(
        Bucket=indexed.bucket, Key=INDEX_KEY, VersionId=record["lindi_index"]["version_id"]
    )["Body"].read()
    pinned = record["url"] + "?versionId=" + record["version_id"]
    assert pinned.encode() in old
    unpinned = old.replace(pinned.encode(), record["url"].encode())
    put = s3_client.put_object(Bucket=indexed.bucket, Key=INDEX_KEY, Body=unpinned)
    tampered = _tampered(
        indexed,
        tmp_path,
        lambda r: r.update(
            version_id=put["VersionId"], file_hash=hashlib.blake2b(unpinned).hexdigest()
        ),
    )

    result = cli("verify", str(tampered), "--deep", cwd=indexed.root)

    assert result.exit_code == 1
    failed = [line for line in result.stdout.splitlines() if "lindi" in line]
    assert len(failed) == 1 and "not data/s101.nwb's pinned version" in result.stdout


def test_fetch_leaves_the_indexes_in_the_bucket_and_says_so(
    cli, indexed: Workspace, tmp_path: Path
) -> None:
    """Every reference in an index reads the bucket: beside the fetched files it is of no use."""
    dest = tmp_path / "cache"
    manifest = str(indexed.manifest_path("0.1.0"))

    shown = cli("fetch", manifest, "--to", str(dest), cwd=indexed.root)
    as_json = cli("fetch", manifest, "--to", str(dest), "--format", "json", cwd=indexed.root)

    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert "note: 2 LINDI index(es) not fetched" in shown.stderr
    assert json.loads(as_json.stdout)["lindi_indexes_not_fetched"] == 2
    fetched = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert not [path for path in fetched if "lindi" in path]
    assert [path for path in fetched if path.endswith(".nwb")]
