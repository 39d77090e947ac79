"""No credential and no presigned URL ends up in output, workspace files, fetched files or the
bucket, even with --verbose, across the whole flow: DANDI upload, two releases, verify, fetch."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import pytest

from publishkit.sandbox.archive import DandiSandbox

pytestmark = pytest.mark.slow

# query-string parts of a presigned URL (SigV4 and SigV2), and a SigV4 Authorization header's
PRESIGNED_MARKERS = ("X-Amz-Signature", "X-Amz-Credential", "Signature=", "AWSAccessKeyId=")


def leaks(blob: bytes, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets and markers found in `blob` (markers case-insensitively)."""
    found = [name for name, value in secrets.items() if value.encode() in blob]
    lowered = blob.lower()
    found += [marker for marker in PRESIGNED_MARKERS if marker.lower().encode() in lowered]
    return found


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def bucket_objects(s3_client: Any, bucket: str) -> dict[str, bytes]:
    """Every version of every key (and the metadata S3 keeps with it), read from moto."""
    found = {}
    for page in s3_client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            response = s3_client.get_object(
                Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
            )
            meta = repr(sorted(response.get("Metadata", {}).items())).encode()
            found[f"{version['Key']}@{version['VersionId']}"] = response["Body"].read() + meta
    return found


def test_verbose_runs_leave_no_secret_anywhere(
    cli,
    tmp_path: Path,
    archive: DandiSandbox,
    bucket,
    aws_env,
    s3_client,
    s3_server,
    monkeypatch,
    dandi_home,
) -> None:
    secrets = {
        "AWS secret access key": f"pkSecretKey{uuid.uuid4().hex}Zz9",
        "DANDI API key": archive.api_key,
    }
    access_key = f"PKID{uuid.uuid4().hex[:16].upper()}"
    s3_server.accept(access_key, secrets["AWS secret access key"])  # it refuses unknown keys
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secrets["AWS secret access key"])
    dandiset = archive.create_dandiset("no secrets")
    workspace = tmp_path / "study"
    cache = tmp_path / "cache"
    outputs: dict[str, str] = {}

    def run(*args: str) -> None:
        result = cli("--verbose", *args)
        name = f"{len(outputs)}: publishkit {' '.join(args)}"
        outputs[name] = result.stdout + result.stderr
        assert result.exit_code == 0, f"{name}\n{result.stdout}\n{result.stderr}"

    # DANDI: a template workspace, converted, organized and uploaded to the local archive
    run("init", str(workspace), "--template", "timeseries")
    config = workspace / "publishkit.yaml"
    config.write_text(
        config.read_text() + f"dandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
    )
    run("convert", "-w", str(workspace))
    run("organize", "-w", str(workspace))
    run("upload", "--target", "dandi", "-w", str(workspace))

    # S3: the sessions table lists the NWB files; two releases, the second after a change
    sessions = workspace / "sessions.csv"
    rows = list(csv.DictReader(sessions.open()))

    def write_sessions(note: str) -> None:
        with sessions.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, [*rows[0], "file_id", "file_path", "note"])
            writer.writeheader()
            for row in rows:
                name = f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
                writer.writerow(
                    {**row, "file_id": row["session_id"], "file_path": f"nwb/{name}", "note": note}
                )

    write_sessions("first")
    config.write_text(
        config.read_text()
        + f"s3:\n  bucket: {bucket.bucket}\n  region: us-west-2\n"
        + "metadata_files:\n  sessions: sessions.csv\n"
    )
    run("organize", "-w", str(workspace))
    run("release", "--version", "1.0.0", "-w", str(workspace))
    write_sessions("second")
    run("organize", "-w", str(workspace))
    run("release", "--bump", "minor", "-w", str(workspace))
    manifests = sorted((workspace / "manifests").glob("*.json"))
    assert [m.name for m in manifests] == [
        "study_project_manifest_v1.0.0.json",
        "study_project_manifest_v1.1.0.json",
    ]
    for path in manifests:
        run("verify", str(path), "--deep", "-w", str(workspace))
        run("fetch", str(path), "--to", str(cache), "-w", str(workspace))
    assert any(p.suffix == ".nwb" for p in cache.rglob("*"))  # something was fetched

    assert any("INFO publishkit" in text for text in outputs.values())  # --verbose was on
    found = {name: leaks(text.encode(), secrets) for name, text in outputs.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}

    written = files_under(workspace)
    assert ".publishkit/state.sqlite" in written
    found = {name: leaks(blob, secrets) for name, blob in written.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}

    found = {name: leaks(blob, secrets) for name, blob in files_under(cache).items()}
    assert {name: hits for name, hits in found.items() if hits} == {}

    stored = bucket_objects(s3_client, bucket.bucket)
    assert any(key.startswith("study/manifests/") for key in stored)
    assert len(stored) > 6  # DANDI blobs, manifests, notes, data and metadata files
    found = {name: leaks(blob, secrets) for name, blob in stored.items()}
    assert {name: hits for name, hits in found.items() if hits} == {}
