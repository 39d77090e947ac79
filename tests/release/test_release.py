"""`publishkit release` against a real moto S3 server over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest

from publishkit.workspace.state import OpenUploads, StateStore
from tests.conftest import REGION, Workspace


def versions_of(s3_client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    listed = s3_client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return [v for v in listed if v["Key"] == key]


def all_keys(s3_client: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_first_release_writes_allensdk_manifest_pinning_put_versions(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    result = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert "Released v0.1.0: uploaded 3 file(s)" in result.stdout

    local = json.loads(workspace.manifest_path("0.1.0").read_text())
    key = "demo-project/manifests/demo-project_project_manifest_v0.1.0.json"
    remote = json.loads(s3_client.get_object(Bucket=workspace.bucket, Key=key)["Body"].read())
    assert local == remote
    assert local["project_name"] == "demo-project"
    assert local["manifest_version"] == "0.1.0"
    assert local["metadata_file_id_column_name"] == "file_id"
    assert local["data_pipeline"][0]["name"] == "publishkit"
    assert set(local["metadata_files"]) == {"sessions"}
    assert set(local["data_files"]) == {"101", "102"}

    entry = local["data_files"]["101"]
    content = (workspace.root / "data" / "s101.nwb").read_bytes()
    assert entry["url"] == (
        f"https://{workspace.bucket}.s3.{REGION}.amazonaws.com/demo-project/data/s101.nwb"
    )
    assert entry["file_hash"] == hashlib.blake2b(content).hexdigest()
    assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert entry["size"] == len(content)
    (only,) = versions_of(s3_client, workspace.bucket, "demo-project/data/s101.nwb")
    assert entry["version_id"] == only["VersionId"]
    table = local["metadata_files"]["sessions"]
    assert table["url"].endswith("/demo-project/project_metadata/sessions.csv")
    # sorted keys, two-space indent, trailing newline
    text = workspace.manifest_path("0.1.0").read_text()
    assert text == json.dumps(local, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    notes = (workspace.root / "release_notes.md").read_text()
    assert notes.startswith("# Release notes\n\n## v0.1.0")
    assert re.findall(r"[a-z]+://\S*\?", notes) == []  # no URL with a query (a signed URL)


def test_sha256_checksum_is_stored_with_each_object(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    head = s3_client.head_object(
        Bucket=workspace.bucket, Key="demo-project/data/s102.nwb", ChecksumMode="ENABLED"
    )
    content = (workspace.root / "data" / "s102.nwb").read_bytes()
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()


def test_unchanged_files_keep_their_version_and_get_no_second_one(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    first = json.loads(workspace.manifest_path("0.1.0").read_text())
    workspace.set_sessions({"101": b"session 101 " * 1000, "102": b"edited 102"})

    result = cli("release", "--bump", "minor", cwd=workspace.root)

    assert result.exit_code == 0, result.stderr
    assert "uploaded 1 file(s), 2 unchanged" in result.stdout
    second = json.loads(workspace.manifest_path("0.2.0").read_text())
    assert second["data_files"]["101"]["version_id"] == first["data_files"]["101"]["version_id"]
    assert second["data_files"]["102"]["version_id"] != first["data_files"]["102"]["version_id"]
    assert (
        second["data_files"]["102"]["previous_version_id"]
        == first["data_files"]["102"]["version_id"]
    )
    assert second["previous_manifest_version"] == "0.1.0"
    assert len(versions_of(s3_client, workspace.bucket, "demo-project/data/s101.nwb")) == 1
    assert len(versions_of(s3_client, workspace.bucket, "demo-project/data/s102.nwb")) == 2
    notes = (workspace.root / "release_notes.md").read_text()
    assert notes.index("## v0.2.0") < notes.index("## v0.1.0")  # newest on top
    assert "`data/s102.nwb` changed" in notes


def test_nothing_changed_writes_nothing_and_exits_0(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    before = {
        k: len(versions_of(s3_client, workspace.bucket, k))
        for k in all_keys(s3_client, workspace.bucket)
    }

    result = cli("release", "--bump", "patch", cwd=workspace.root)

    assert result.exit_code == 0
    assert "Nothing changed since v0.1.0; nothing was written." in result.stdout
    after = {
        k: len(versions_of(s3_client, workspace.bucket, k))
        for k in all_keys(s3_client, workspace.bucket)
    }
    assert after == before
    assert sorted(p.name for p in (workspace.root / "manifests").iterdir()) == [
        "demo-project_project_manifest_v0.1.0.json"
    ]


def test_multipart_upload_for_large_files(cli, workspace: Workspace, aws_env, s3_client) -> None:
    workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n")
    big = hashlib.sha256(b"seed").digest() * (11 * 1024 * 1024 // 32)
    workspace.set_sessions({"101": big})

    result = cli("release", "--version", "0.1.0", cwd=workspace.root)

    assert result.exit_code == 0, result.stderr
    head = s3_client.head_object(
        Bucket=workspace.bucket, Key="demo-project/data/s101.nwb", PartNumber=1
    )
    assert head["PartsCount"] == 3  # 5 MiB + 5 MiB + 1 MiB
    body = s3_client.get_object(Bucket=workspace.bucket, Key="demo-project/data/s101.nwb")
    assert hashlib.blake2b(body["Body"].read()).hexdigest() == hashlib.blake2b(big).hexdigest()
    uploads = s3_client.list_multipart_uploads(Bucket=workspace.bucket).get("Uploads", [])
    assert uploads == []


def test_part_size_and_concurrency_for_one_run(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    """--part-size-mb over s3.part_size_mb; the report says what was sent; a bad value is
    refused by name before anything is read."""
    workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n  part_size_mb: 5\n")
    big = hashlib.sha256(b"seed").digest() * (13 * 1024 * 1024 // 32)
    workspace.set_sessions({"101": big})
    refused = cli("upload", "--target", "s3", "--part-size-mb", "4", cwd=workspace.root)
    assert refused.exit_code == 2 and "--part-size-mb" in refused.stderr

    result = cli(
        "upload",
        "--target",
        "s3",
        "--part-size-mb",
        "6",
        "--max-concurrency",
        "2",
        "--format",
        "json",
        cwd=workspace.root,
    )

    assert result.exit_code == 0, result.stderr
    head = s3_client.head_object(
        Bucket=workspace.bucket, Key="demo-project/data/s101.nwb", PartNumber=1
    )
    assert head["PartsCount"] == 3  # 6 + 6 + 1 MiB, not 5 + 5 + 3
    assert head["ContentLength"] == 6 * 1024 * 1024
    s3 = json.loads(result.stdout)["s3"]
    assert s3["bytes_sent"] >= len(big)
    assert (s3["retries"], s3["resumed"], s3["restarted"]) == (0, [], [])


def test_upload_finished_before_a_crash_is_adopted_not_repeated(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    """A run that died after uploading but before its manifest left the object behind."""
    content = (workspace.root / "data" / "s101.nwb").read_bytes()
    left = s3_client.put_object(
        Bucket=workspace.bucket,
        Key="demo-project/data/s101.nwb",
        Body=content,
        Metadata={"publishkit-blake2b": hashlib.blake2b(content).hexdigest()},
    )

    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0

    (only,) = versions_of(s3_client, workspace.bucket, "demo-project/data/s101.nwb")
    assert only["VersionId"] == left["VersionId"]
    manifest = json.loads(workspace.manifest_path("0.1.0").read_text())
    assert manifest["data_files"]["101"]["version_id"] == left["VersionId"]


def test_rename_delete_and_create_suggest_and_apply_a_major_bump(
    cli, workspace: Workspace, aws_env
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    (workspace.root / "data" / "s101.nwb").rename(workspace.root / "data" / "s201.nwb")
    workspace.set_sessions({"201": b"session 101 " * 1000, "103": b"new"})

    suggested = cli("release", cwd=workspace.root)
    assert suggested.exit_code == 2
    assert "the changes suggest --bump major" in suggested.stderr

    result = cli("release", "--bump", "major", "--format", "json", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["release"]
    assert summary["version"] == "1.0.0"
    kinds = {(c["kind"], c["path"]) for c in summary["changes"]["changes"]}
    assert ("renamed", "data/s101.nwb") in kinds
    assert ("deleted", "data/s102.nwb") in kinds
    assert ("created", "data/s103.nwb") in kinds


@pytest.mark.parametrize(
    ("change", "bump"),
    [("metadata", "patch"), ("data", "minor"), ("renamed column", "major")],
)
def test_suggested_bump_without_version_or_bump(
    cli, workspace: Workspace, aws_env, change: str, bump: str
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    table = workspace.root / "metadata" / "sessions.csv"
    if change == "metadata":
        table.write_text(table.read_text().replace("mouse-101", "mouse-A"))
    elif change == "renamed column":  # same values under a new name: a consumer's code breaks
        table.write_text(table.read_text().replace("subject_id", "mouse_id"))
    else:
        (workspace.root / "data" / "s101.nwb").write_bytes(b"changed")

    result = cli("release", cwd=workspace.root)

    assert result.exit_code == 2
    assert f"the changes suggest --bump {bump}" in result.stderr
    assert not workspace.manifest_path("0.1.1").exists()


# --- refusals: each before anything is written, naming the offending value -------------------


def test_refuses_a_bucket_that_does_not_exist(cli, workspace: Workspace, aws_env) -> None:
    workspace.bucket = "no-such-bucket"
    workspace.write_config()
    result = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 2
    assert "s3://no-such-bucket: the bucket does not exist" in result.stderr
    assert not (workspace.root / "manifests").exists()


@pytest.mark.parametrize("status", [None, "Suspended"])
def test_refuses_a_bucket_without_versioning(
    cli, workspace: Workspace, aws_env, s3_server, s3_client, status: str | None
) -> None:
    name = f"unversioned-{(status or 'never').lower()}"
    s3_server.create_bucket(name, REGION, versioned=False)
    if status:
        s3_client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    workspace.bucket = name
    workspace.write_config()

    result = cli("release", "--version", "0.1.0", cwd=workspace.root)

    assert result.exit_code == 2
    assert f"s3://{name}: versioning is {status or 'not enabled'}" in result.stderr
    assert f"put-bucket-versioning --bucket {name}" in result.stderr  # how to enable it
    assert s3_client.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0


def test_refuses_missing_credentials(cli, workspace: Workspace, aws_env, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 2
    assert f"s3://{workspace.bucket}: no AWS credentials found" in result.stderr
    assert "AWS_ACCESS_KEY_ID" in result.stderr


def test_refuses_a_listed_data_file_absent_on_disk(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    (workspace.root / "data" / "s102.nwb").unlink()
    result = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 2
    assert "line 3: data file data/s102.nwb is listed in table 'sessions'" in result.stderr
    assert "absent on disk" in result.stderr
    assert s3_client.list_objects_v2(Bucket=workspace.bucket).get("KeyCount", 0) == 0


def test_refuses_a_version_already_published(cli, workspace: Workspace, aws_env, s3_client) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    before = s3_client.list_object_versions(Bucket=workspace.bucket)["Versions"]
    (workspace.root / "data" / "s101.nwb").write_bytes(b"changed")
    result = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 2
    assert "version 0.1.0 is already published" in result.stderr
    assert s3_client.list_object_versions(Bucket=workspace.bucket)["Versions"] == before
    older = cli("release", "--version", "0.0.9", cwd=workspace.root)
    assert older.exit_code == 2
    assert "version 0.0.9 is older than the latest release 0.1.0" in older.stderr


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "01.2.3", "1.2.3.4", "latest"])
def test_refuses_a_version_that_is_not_semver(cli, workspace: Workspace, aws_env, bad) -> None:
    result = cli("release", "--version", bad, cwd=workspace.root)
    assert result.exit_code == 2
    assert f"version '{bad}' is not a semantic version" in result.stderr


def test_first_release_without_version_suggests_minor(cli, workspace: Workspace, aws_env) -> None:
    result = cli("release", cwd=workspace.root)
    assert result.exit_code == 2
    assert "no --version or --bump given; the changes suggest --bump minor" in result.stderr
    assert not (workspace.root / "manifests").exists()


def test_refuses_version_and_bump_together(cli, workspace: Workspace, aws_env) -> None:
    result = cli("release", "--version", "1.0.0", "--bump", "major", cwd=workspace.root)
    assert result.exit_code == 2
    assert "either --version or --bump, not both" in result.stderr


def test_outside_a_workspace(cli, tmp_path, aws_env) -> None:
    result = cli("release", "--version", "0.1.0", cwd=tmp_path)
    assert result.exit_code == 2
    assert "no publishkit.yaml here" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_published_manifest_key_is_never_overwritten(bucket, aws_env) -> None:
    """The conditional PUT guards the race the version check cannot: two releases at once."""
    from publishkit.errors import StorageError
    from publishkit.s3.bucket import S3Bucket

    store = S3Bucket.connect(bucket.bucket, REGION, bucket.endpoint_url, write=True)
    key = "p/manifests/p_project_manifest_v1.0.0.json"
    store.put_bytes(key, b"{}", content_type="application/json", create_only=True)
    with pytest.raises(StorageError, match="already exists; it is never overwritten"):
        store.put_bytes(key, b'{"x": 1}', content_type="application/json", create_only=True)
    assert store.get_bytes(key) == b"{}"


def test_verbose_logs_uploads_without_secrets(
    cli, workspace: Workspace, aws_env, monkeypatch, s3_server
) -> None:
    secret = "Sx9-not-a-real-secret-but-distinctive"
    s3_server.accept("sandbox-verbose", secret)  # the sandbox refuses credentials it never got
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sandbox-verbose")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    result = cli("--verbose", "release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 0
    assert "uploading" in result.stderr and "3 of 3 files changed" in result.stderr
    written = [p.read_bytes() for p in workspace.root.rglob("*") if p.is_file()]
    for text in [result.stdout, result.stderr]:
        assert secret not in text and "Signature=" not in text
    assert not any(secret.encode() in blob for blob in written)


@pytest.mark.parametrize("path", ["data/a b.nwb", "data/ses+1.nwb", "../outside.nwb"])
def test_refuses_data_paths_a_manifest_url_cannot_carry(
    cli, workspace: Workspace, aws_env, path: str
) -> None:
    table = workspace.root / "metadata" / "sessions.csv"
    table.write_text(f"file_id,file_path\n1,{path}\n")
    result = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 2
    assert f"line 2: file_path '{path}'" in result.stderr


def test_only_the_multipart_uploads_a_dead_run_recorded_are_aborted(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    """A run killed mid-upload leaves its upload open and on record in the state store; the
    next run aborts it. An upload the workspace never recorded (another writer's, on a key of
    the same prefix) is not this workspace's to abort."""
    key = "demo-project/data/s101.nwb"
    dead = s3_client.create_multipart_upload(Bucket=workspace.bucket, Key=key)["UploadId"]
    unrecorded = s3_client.create_multipart_upload(
        Bucket=workspace.bucket, Key="demo-project/data/other-writer.nwb"
    )["UploadId"]
    with StateStore.in_dir(workspace.root / ".publishkit") as store:
        log = OpenUploads(store)
        log.started(log.begin(workspace.bucket, key), dead)  # as the dead run recorded it
        log.begin(workspace.bucket, "demo-project/data/s102.nwb")  # died before S3 gave an id
    orphan = s3_client.create_multipart_upload(
        Bucket=workspace.bucket, Key="demo-project/data/s102.nwb"
    )["UploadId"]
    assert cli("release", "--plan", cwd=workspace.root).exit_code == 0  # reads only
    assert len(s3_client.list_multipart_uploads(Bucket=workspace.bucket)["Uploads"]) == 3

    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0

    uploads = s3_client.list_multipart_uploads(Bucket=workspace.bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [unrecorded]
    with StateStore.in_dir(workspace.root / ".publishkit") as store:
        assert OpenUploads(store).recorded(workspace.bucket) == []
    assert orphan not in {u["UploadId"] for u in uploads}


def test_a_rerun_repairs_what_a_crash_after_publishing_left_behind(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    """Killed after the manifest: the next run writes the notes; killed after the bucket's notes:
    it restores the local copies. Same version, nothing uploaded again."""
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    notes_key = "demo-project/release_notes.md"
    published = s3_client.get_object(Bucket=workspace.bucket, Key=notes_key)["Body"].read()
    local_notes = workspace.root / "release_notes.md"
    local_notes.unlink()
    workspace.manifest_path("0.1.0").unlink()
    again = cli("release", "--version", "0.1.0", "-f", "json", cwd=workspace.root)
    assert again.exit_code == 0, again.stderr
    summary = json.loads(again.stdout)["release"]
    assert summary["status"] == "unchanged" and summary["notes_repaired"]
    assert local_notes.read_bytes() == published
    assert workspace.manifest_path("0.1.0").exists()

    s3_client.put_object(Bucket=workspace.bucket, Key=notes_key, Body=b"# Release notes\n")
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    rewritten = s3_client.get_object(Bucket=workspace.bucket, Key=notes_key)["Body"].read()
    assert b"## v0.1.0" in rewritten and local_notes.read_bytes() == rewritten


def test_each_s3_stage_does_its_own_part(cli, workspace: Workspace, aws_env, s3_client) -> None:
    """--to upload uploads the files and tables and publishes nothing; --only manifest pins
    what is uploaded; --only notes writes that manifest's notes, once."""
    key = "demo-project/manifests/demo-project_project_manifest_v0.1.0.json"
    notes_key = "demo-project/release_notes.md"
    uploaded = cli("release", "--to", "upload", "-f", "json", cwd=workspace.root)
    assert uploaded.exit_code == 0, uploaded.stderr
    assert json.loads(uploaded.stdout)["stages"] == ["upload"]
    assert sorted(all_keys(s3_client, workspace.bucket)) == [
        "demo-project/data/s101.nwb",
        "demo-project/data/s102.nwb",
        "demo-project/project_metadata/sessions.csv",
    ]

    manifest = cli("release", "--only", "manifest", "--version", "0.1.0", cwd=workspace.root)
    assert manifest.exit_code == 0, manifest.stderr
    assert "pinned 3 new or changed file(s) uploaded by an earlier run, 0 unchanged" in (
        manifest.stdout
    )
    assert key in all_keys(s3_client, workspace.bucket)
    assert notes_key not in all_keys(s3_client, workspace.bucket)
    pinned = json.loads(workspace.manifest_path("0.1.0").read_text())["data_files"]["101"]
    (only,) = versions_of(s3_client, workspace.bucket, "demo-project/data/s101.nwb")
    assert pinned["version_id"] == only["VersionId"]  # pinned what --to upload uploaded

    notes = cli("release", "--only", "notes", "-f", "json", cwd=workspace.root)
    assert notes.exit_code == 0, notes.stderr
    assert json.loads(notes.stdout)["notes"] == {
        "version": "0.1.0",
        "written": True,
        "repaired": False,
        "page_url": f"https://{workspace.bucket}.s3.{REGION}.amazonaws.com/demo-project/releases/v0.1.0.html",
    }
    text = s3_client.get_object(Bucket=workspace.bucket, Key=notes_key)["Body"].read().decode()
    assert text.count("## v0.1.0") == 1 and "2 created" in text
    again = cli("release", "--only", "notes", "-f", "json", cwd=workspace.root)
    assert json.loads(again.stdout)["notes"]["written"] is False
    assert len(versions_of(s3_client, workspace.bucket, notes_key)) == 1


def test_a_manifest_of_files_not_uploaded_is_refused_by_name(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    result = cli("release", "--only", "manifest", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 1
    assert "3 file(s) of the release are not uploaded yet: " in result.stderr
    assert "data/s101.nwb" in result.stderr and "--to upload" in result.stderr
    assert all_keys(s3_client, workspace.bucket) == []


def test_notes_before_any_release_are_refused(cli, workspace: Workspace, aws_env) -> None:
    result = cli("release", "--only", "notes", cwd=workspace.root)
    assert result.exit_code == 2
    assert "no release is published yet" in result.stderr


def test_text_objects_say_they_are_utf8(cli, workspace: Workspace, aws_env, s3_client) -> None:
    """A browser or `curl | less` reading a table, the notes or a manifest from the bucket
    decodes `é` and `→` as UTF-8, not Latin-1; a data file that is not UTF-8 claims nothing."""
    (workspace.root / "data" / "readme.md").write_text("Souris é → ok\n", encoding="utf-8")
    (workspace.root / "data" / "legacy.csv").write_bytes("caf\xe9\n".encode("latin-1"))
    table = workspace.root / "metadata" / "sessions.csv"
    table.write_text(
        table.read_text() + "103,data/readme.md,mouse-é\n104,data/legacy.csv,mouse-4\n",
        encoding="utf-8",
    )
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0

    def content_type(key: str) -> str:
        head = s3_client.head_object(Bucket=workspace.bucket, Key=f"demo-project/{key}")
        return str(head["ContentType"])

    assert content_type("project_metadata/sessions.csv") == "text/csv; charset=utf-8"
    assert content_type("data/readme.md") == "text/markdown; charset=utf-8"
    assert content_type("data/legacy.csv") == "text/csv"  # Latin-1: no charset is claimed
    assert content_type("release_notes.md") == "text/markdown; charset=utf-8"
    manifest = "manifests/demo-project_project_manifest_v0.1.0.json"
    assert content_type(manifest) == "application/json; charset=utf-8"
    assert "charset" not in content_type("data/s101.nwb")  # binary
