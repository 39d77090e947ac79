"""`publishkit verify`: a published release is intact, or the damage is named."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Workspace


@pytest.fixture
def released(cli, workspace: Workspace, aws_env) -> Workspace:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    return workspace


def test_intact_release_passes_deep(cli, released: Workspace) -> None:
    result = cli("verify", str(released.manifest_path("0.1.0")), "--deep", cwd=released.root)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "v0.1.0: all 3 file(s) present, sizes and hashes match" in result.stdout


def test_deleted_version_fails_and_is_named(cli, released: Workspace, s3_client) -> None:
    doc = json.loads(released.manifest_path("0.1.0").read_text())
    s3_client.delete_object(
        Bucket=released.bucket,
        Key="demo-project/data/s101.nwb",
        VersionId=doc["data_files"]["101"]["version_id"],
    )
    result = cli(
        "verify", str(released.manifest_path("0.1.0")), "--format", "json", cwd=released.root
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    bad = {f["path"]: f["status"] for f in report["files"] if f["status"] != "ok"}
    assert bad == {"data/s101.nwb": "missing"}


def test_deep_detects_a_hash_that_does_not_match(cli, released: Workspace, tmp_path) -> None:
    doc = json.loads(released.manifest_path("0.1.0").read_text())
    doc["data_files"]["102"]["file_hash"] = "0" * 128
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))

    shallow = cli("verify", str(tampered), cwd=released.root)
    deep = cli("verify", str(tampered), "--deep", cwd=released.root)

    assert shallow.exit_code == 0  # sizes still match: only --deep reads the content
    assert deep.exit_code == 1
    assert "data/s102.nwb" in deep.stdout and "hash-mismatch" in deep.stdout
    assert "1 of 3 file(s) FAILED" in deep.stdout


def test_size_mismatch_fails(cli, released: Workspace, tmp_path) -> None:
    doc = json.loads(released.manifest_path("0.1.0").read_text())
    doc["metadata_files"]["sessions"]["size"] += 1
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    result = cli("verify", str(tampered), cwd=released.root)
    assert result.exit_code == 1
    assert "size-mismatch" in result.stdout


def test_warns_when_a_key_has_a_newer_version_than_the_pinned_one(
    cli, released: Workspace, s3_client
) -> None:
    s3_client.put_object(Bucket=released.bucket, Key="demo-project/data/s101.nwb", Body=b"new")
    result = cli(
        "verify", str(released.manifest_path("0.1.0")), "--format", "json", cwd=released.root
    )
    assert result.exit_code == 0  # the pinned versions are all still there
    report = json.loads(result.stdout)
    warned = {f["path"]: f["warning"] for f in report["files"] if f["warning"]}
    assert list(warned) == ["data/s101.nwb"]
    assert "a newer version" in warned["data/s101.nwb"]


def test_warns_when_bucket_versioning_is_suspended(cli, released: Workspace, s3_client) -> None:
    s3_client.put_bucket_versioning(
        Bucket=released.bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    result = cli("verify", str(released.manifest_path("0.1.0")), cwd=released.root)
    # moto answers 400 to a HEAD with versionId once versioning is suspended (real S3 still
    # serves old versions), so only the warning is asserted here, not the per-file results.
    assert "warning: s3://" in result.stderr
    assert "versioning is Suspended" in result.stderr


def test_outside_a_workspace_uses_the_aws_environment(cli, released: Workspace, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("verify", str(released.manifest_path("0.1.0")), cwd=elsewhere)
    assert result.exit_code == 0, result.stderr
    assert "all 3 file(s) present" in result.stdout


@pytest.mark.parametrize(
    ("edit", "status", "named"),
    [
        ({"sha256": "0" * 64}, "hash-mismatch", "sha256 is "),
        ({"file_hash": "0" * 128}, "hash-mismatch", "file_hash (blake2b) is "),
    ],
)
def test_deep_checks_every_digest_the_manifest_records(
    cli, released: Workspace, tmp_path, edit: dict[str, str], status: str, named: str
) -> None:
    doc = json.loads(released.manifest_path("0.1.0").read_text())
    real = doc["data_files"]["102"][next(iter(edit))]
    doc["data_files"]["102"].update(edit)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))

    result = cli("verify", str(tampered), "--deep", "--format", "json", cwd=released.root)

    assert result.exit_code == 1
    bad = [f for f in json.loads(result.stdout)["files"] if f["status"] != "ok"]
    assert [(f["path"], f["status"]) for f in bad] == [("data/s102.nwb", status)]
    assert bad[0]["detail"] == f"{named}{real[:16]}…, the manifest says {'0' * 16}…"


def test_a_digest_that_differs_late_is_shown_up_to_the_difference(
    cli, released: Workspace, tmp_path
) -> None:
    doc = json.loads(released.manifest_path("0.1.0").read_text())
    real = doc["data_files"]["101"]["sha256"]
    doc["data_files"]["101"]["sha256"] = real[:40] + ("0" if real[40] != "0" else "1") + real[41:]
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))

    result = cli("verify", str(tampered), "--deep", "--format", "json", cwd=released.root)

    detail = next(f["detail"] for f in json.loads(result.stdout)["files"] if f["detail"])
    assert detail.startswith(f"sha256 is {real[:41]}…, the manifest says {real[:40]}")


def test_a_delete_marker_on_a_pinned_key_is_reported(cli, released: Workspace, s3_client) -> None:
    """The pinned version is still there (fetch works), but the key was deleted since: a reader
    of the plain URL gets 404. verify says so, file by file."""
    s3_client.delete_object(Bucket=released.bucket, Key="demo-project/data/s101.nwb")
    manifest = str(released.manifest_path("0.1.0"))
    result = cli("verify", manifest, "--format", "json", cwd=released.root)
    assert result.exit_code == 0  # every pinned version is intact
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    assert files["data/s101.nwb"]["status"] == "ok"
    warning = "deleted since: its latest version is a delete marker (the pinned one remains)"
    assert files["data/s101.nwb"]["warning"] == warning
    assert files["data/s102.nwb"]["warning"] == ""
    text = " ".join(cli("verify", manifest, cwd=released.root).stdout.split())
    assert "data/s101.nwb ok warning: deleted since" in text
