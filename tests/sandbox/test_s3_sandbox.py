"""The sandbox's S3 server: its disk use stays bounded by what it stores; it refuses wrong
credentials as S3 does, so that credential errors can be rehearsed."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from publishkit.sandbox.s3 import S3Sandbox, SandboxInfo
from tests.conftest import REGION, Result, Workspace

MB = 1024 * 1024


def _deleted_open_files() -> dict[str, int]:
    """This process's open files that were deleted (the sandbox's spooled object bodies),
    path -> size: the disk they hold though no folder shows them."""
    held: dict[str, int] = {}
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
            if target.endswith(" (deleted)"):
                held[f"{fd.name}:{target}"] = os.fstat(int(fd.name)).st_size
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, a finished request)
    return held


@pytest.mark.slow
def test_listing_versions_many_times_holds_no_more_disk(
    bucket: SandboxInfo, s3_client: Any
) -> None:
    # bodies over moto's spooling threshold (5 MB) live in deleted temporary files
    for n in range(4):
        s3_client.put_object(Bucket=bucket.bucket, Key=f"big-{n}.nwb", Body=os.urandom(6 * MB))
    s3_client.put_object(Bucket=bucket.bucket, Key="big-0.nwb", Body=os.urandom(6 * MB))
    before = _deleted_open_files()
    for _ in range(8):
        listed = s3_client.list_object_versions(Bucket=bucket.bucket)
        assert len(listed["Versions"]) == 5
    after = _deleted_open_files()
    assert len(after) <= len(before)
    assert sum(after.values()) <= sum(before.values())
    # the bodies are still whole after being listed
    body = s3_client.get_object(Bucket=bucket.bucket, Key="big-3.nwb")["Body"].read()
    assert len(body) == 6 * MB


def _client(endpoint: str, key: str, secret: str) -> Any:
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret).client(
        "s3",
        endpoint_url=endpoint,
        config=Config(region_name=REGION, s3={"addressing_style": "path"}),
    )


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        ("not-sandbox", "sandbox", "InvalidAccessKeyId"),
        ("sandbox", "wrong", "SignatureDoesNotMatch"),
    ],
)
def test_the_sandbox_refuses_wrong_credentials_as_s3_does(
    s3_server: S3Sandbox, bucket: SandboxInfo, key: str, secret: str, code: str
) -> None:
    wrong = _client(s3_server.endpoint_url, key, secret)
    with pytest.raises(ClientError) as refused:
        wrong.put_object(Bucket=bucket.bucket, Key="k.csv", Body=b"a,b\n")
    assert refused.value.response["Error"]["Code"] == code
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    right = _client(s3_server.endpoint_url, "sandbox", "sandbox")
    assert "Versions" not in right.list_object_versions(Bucket=bucket.bucket)  # nothing written


def test_the_sandbox_accepts_its_credentials_on_every_kind_of_request(
    s3_server: S3Sandbox, bucket: SandboxInfo
) -> None:
    """Signed requests with awkward keys, queries, multipart and presigned URLs; unsigned
    reads of the public bucket."""
    client = _client(s3_server.endpoint_url, "sandbox", "sandbox")
    odd = "data/sub ject+1/ä é~(x)=y&z.nwb"
    client.put_object(Bucket=bucket.bucket, Key=odd, Body=b"odd")
    listed = client.list_object_versions(Bucket=bucket.bucket, Prefix="data/sub ject+1/")
    version = listed["Versions"][0]["VersionId"]
    assert client.get_object(Bucket=bucket.bucket, Key=odd, VersionId=version)["Body"].read()
    upload = client.create_multipart_upload(Bucket=bucket.bucket, Key="big.bin")["UploadId"]
    part = client.upload_part(
        Bucket=bucket.bucket, Key="big.bin", UploadId=upload, PartNumber=1, Body=b"x" * 10
    )
    client.complete_multipart_upload(
        Bucket=bucket.bucket,
        Key="big.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket.bucket, "Key": odd})
    assert requests.get(url, timeout=30).content == b"odd"
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket.bucket, "Key": "presigned.txt"}
    )
    assert requests.put(put_url, data=b"p", timeout=30).status_code == 200
    anonymous = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        config=Config(signature_version=UNSIGNED, region_name=REGION),
    )
    assert anonymous.get_object(Bucket=bucket.bucket, Key="big.bin")["Body"].read() == b"x" * 10


@pytest.mark.parametrize(
    ("key", "secret", "fix"),
    [
        ("not-sandbox", "sandbox", "AWS_ACCESS_KEY_ID"),
        ("sandbox", "wrong", "AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_a_release_with_wrong_credentials_is_one_line_naming_the_fix(
    cli: Callable[..., Result],
    workspace: Workspace,
    aws_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    secret: str,
    fix: str,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    result = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert result.exit_code == 2  # the credentials given are bad input
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: s3://{workspace.bucket}: S3 refused the credentials")
    assert fix in result.stderr


@pytest.mark.slow
def test_a_version_deleted_frees_its_disk(bucket: SandboxInfo, s3_client: Any) -> None:
    """What the sandbox no longer stores holds no disk: a version deleted for good, an
    object overwritten in a bucket without versioning."""
    plain = f"{bucket.bucket}-plain"
    s3_client.create_bucket(Bucket=plain, CreateBucketConfiguration={"LocationConstraint": REGION})
    before = _deleted_open_files()
    first = s3_client.put_object(Bucket=bucket.bucket, Key="big.nwb", Body=os.urandom(6 * MB))
    s3_client.put_object(Bucket=bucket.bucket, Key="big.nwb", Body=os.urandom(6 * MB))
    s3_client.put_object(Bucket=plain, Key="big.nwb", Body=os.urandom(6 * MB))
    s3_client.put_object(Bucket=plain, Key="big.nwb", Body=os.urandom(6 * MB))  # replaces it
    s3_client.delete_object(Bucket=bucket.bucket, Key="big.nwb", VersionId=first["VersionId"])
    gc.collect()
    stored = 2  # the versioned bucket's second version, the plain bucket's object
    assert sum(_deleted_open_files().values()) <= sum(before.values()) + stored * 6 * MB
    s3_client.delete_object(Bucket=plain, Key="big.nwb")
    s3_client.delete_bucket(Bucket=plain)


@pytest.mark.slow
def test_a_ranged_get_reads_only_its_range_and_answers_as_s3_does(
    bucket: SandboxInfo, s3_client: Any
) -> None:
    """moto copied (and regex-scanned) the whole body for every ranged GET, so a parallel
    download of a large object measured moto's memcpy; the sandbox reads only the range. Every
    kind of Range answers as before: open-ended, suffix, several ranges (served whole), past
    the end (416), and a version that is not the latest."""
    import tracemalloc

    size = 64 * 1024 * 1024
    body = os.urandom(1024 * 1024) * 64
    first = s3_client.put_object(Bucket=bucket.bucket, Key="big.bin", Body=body)["VersionId"]
    s3_client.put_object(Bucket=bucket.bucket, Key="big.bin", Body=b"latest")

    def ranged(spec: str) -> tuple[int, bytes, str | None]:
        got = s3_client.get_object(Bucket=bucket.bucket, Key="big.bin", VersionId=first, Range=spec)
        status = got["ResponseMetadata"]["HTTPStatusCode"]
        return status, got["Body"].read(), got.get("ContentRange")

    assert ranged("bytes=1048576-2097151") == (
        206,
        body[1048576:2097152],
        f"bytes 1048576-2097151/{size}",
    )
    assert ranged(f"bytes={size - 10}-") == (
        206,
        body[-10:],
        f"bytes {size - 10}-{size - 1}/{size}",
    )
    assert ranged("bytes=-7") == (206, body[-7:], f"bytes {size - 7}-{size - 1}/{size}")
    assert ranged("bytes=0-1,5-6")[:2] == (200, body)
    with pytest.raises(ClientError, match="InvalidRange"):
        ranged(f"bytes={size}-")

    gc.collect()
    tracemalloc.start()
    try:
        assert ranged("bytes=0-65535")[1] == body[:65536]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the whole body is 64 MiB (moto's copy: twice that); what else the process allocates
    # meanwhile (its other threads, botocore) was up to 10 MB
    assert peak < 32 * 1024 * 1024, peak


def _parts_sent(
    s3_client: Any, bucket: str, key: str, parts: list[bytes], **checksum: str
) -> tuple[str, list[dict[str, Any]]]:
    """A multipart upload of `parts` (its checksum as given), not completed: its id, and the
    parts as a Complete names them."""
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key=key, **checksum)["UploadId"]
    algorithm = {"ChecksumAlgorithm": checksum["ChecksumAlgorithm"]} if checksum else {}
    sent = []
    for number, part in enumerate(parts, start=1):
        answer = s3_client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=part, **algorithm
        )
        checksums = {name: value for name, value in answer.items() if name.startswith("Checksum")}
        sent.append({"PartNumber": number, "ETag": answer["ETag"], **checksums})
    return upload, sent


def _expected_checksum(parts: list[bytes], algorithm: str, kind: str) -> str:
    """The checksum moto's stock CompleteMultipartUpload records: of the whole object
    (FULL_OBJECT), or of the parts' checksums joined (COMPOSITE)."""
    from moto.s3.utils import compute_checksum

    if kind == "FULL_OBJECT":
        return compute_checksum(b"".join(parts), algorithm).decode()
    joined = b"".join(compute_checksum(part, algorithm, encode_base64=False) for part in parts)
    return compute_checksum(joined, algorithm).decode()


@pytest.mark.slow
@pytest.mark.parametrize(
    "checksum",
    [
        {},  # moto's default: CRC64NVME of the whole object (CRC32 without awscrt), not shown
        {"ChecksumAlgorithm": "SHA256"},  # what publishkit sends: SHA256 of the parts' SHA256s
        {"ChecksumAlgorithm": "SHA1"},
        {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"},
    ],
    ids=["default", "sha256", "sha1", "crc32-full-object"],
)
def test_a_completed_multipart_upload_is_the_object_moto_made(
    bucket: SandboxInfo, s3_client: Any, checksum: dict[str, str]
) -> None:
    """The sandbox assembles a completed upload from its parts on disk, a chunk at a time; the
    object is the one stock moto made: the same bytes, ETag (md5 of the parts' md5s, "-N"),
    checksum and parts (parts whose sizes are no multiple of the chunk)."""
    import hashlib

    parts = [os.urandom(5 * MB + 3), os.urandom(5 * MB), os.urandom(1000)]
    key = f"multipart-{checksum.get('ChecksumAlgorithm', 'default')}.bin"
    upload, sent = _parts_sent(s3_client, bucket.bucket, key, parts, **checksum)
    done = s3_client.complete_multipart_upload(
        Bucket=bucket.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": sent}
    )
    md5s = b"".join(hashlib.md5(part).digest() for part in parts)
    etag = f'"{hashlib.md5(md5s).hexdigest()}-3"'
    assert done["ETag"] == etag
    got = s3_client.get_object(Bucket=bucket.bucket, Key=key, VersionId=done["VersionId"])
    assert got["ETag"] == etag
    assert got["ContentLength"] == sum(map(len, parts))
    assert got["Body"].read() == b"".join(parts)
    second = s3_client.get_object(Bucket=bucket.bucket, Key=key, PartNumber=2)
    assert second["PartsCount"] == 3
    assert second["Body"].read() == parts[1]
    if checksum:  # moto shows the checksum it stored (with no algorithm: none to name)
        algorithm = checksum["ChecksumAlgorithm"]
        kind = checksum.get("ChecksumType", "COMPOSITE")
        attributes = s3_client.get_object_attributes(
            Bucket=bucket.bucket, Key=key, ObjectAttributes=["Checksum"]
        )
        assert attributes["Checksum"] == {
            f"Checksum{algorithm}": _expected_checksum(parts, algorithm, kind),
            "ChecksumType": kind,
        }


@pytest.mark.slow
def test_completing_a_multipart_upload_holds_a_chunk_not_the_object(
    bucket: SandboxInfo, s3_client: Any
) -> None:
    """Stock moto joined the parts in memory to complete an upload, then copied them twice
    (3x the object: a 10 GiB release was killed at 20 GB); the sandbox streams them from their
    spool files into the object's, a chunk at a time."""
    import tracemalloc

    parts = [os.urandom(8 * MB) for _ in range(6)]  # 48 MiB, each part spooled to disk
    key = "streamed.bin"
    upload, sent = _parts_sent(s3_client, bucket.bucket, key, parts, ChecksumAlgorithm="SHA256")
    gc.collect()
    tracemalloc.start()
    try:
        s3_client.complete_multipart_upload(
            Bucket=bucket.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": sent}
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # stock moto: 96 MiB and more (the joined parts, then their copy as bytes)
    assert peak < 16 * MB, peak
    body = s3_client.get_object(Bucket=bucket.bucket, Key=key)["Body"].read()
    assert body == b"".join(parts)


@pytest.mark.slow
def test_a_complete_sent_again_while_the_first_runs_gets_the_same_object(
    s3_server: S3Sandbox, bucket: SandboxInfo, s3_client: Any
) -> None:
    """A client whose Complete timed out (botocore waits 60 s; a 10 GiB object takes longer
    to assemble) sends it again while the first still runs. moto ran both: the first to finish
    closed the parts under the other (a 500), or both stored the object (two versions). The
    sandbox runs one Complete of an upload at a time, and answers the later one with the
    object the first made, as moto answers a Complete repeated after it. To have both arrive
    while the first runs, the test holds a part's lock in the in-process server."""
    import threading

    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    key = "completed-twice.bin"
    parts = [os.urandom(6 * MB), os.urandom(6 * MB)]
    upload, sent = _parts_sent(s3_client, bucket.bucket, key, parts, ChecksumAlgorithm="SHA256")
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    held = backend.get_bucket(bucket.bucket).multiparts[upload].parts[1].lock
    answers: list[str] = []

    def client() -> Any:  # one per thread, trying once: no retry hides an error
        return boto3.session.Session(
            aws_access_key_id="sandbox", aws_secret_access_key="sandbox"
        ).client(
            "s3",
            endpoint_url=s3_server.endpoint_url,
            config=Config(
                region_name=REGION,
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
            ),
        )

    def complete(client: Any) -> None:
        try:
            answers.append(
                client.complete_multipart_upload(
                    Bucket=bucket.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": sent}
                )["VersionId"]
            )
        except ClientError as exc:
            answers.append(exc.response["Error"]["Code"])

    with held:
        threads = [threading.Thread(target=complete, args=(client(),)) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # both Completes are in the server, one of them waiting for the part
    for thread in threads:
        thread.join(timeout=30)
    listed = s3_client.list_object_versions(Bucket=bucket.bucket, Prefix=key)["Versions"]
    assert len(answers) == 2
    assert answers[0] == answers[1], answers  # the same version, no error
    assert [version["VersionId"] for version in listed] == answers[:1]
    body = s3_client.get_object(Bucket=bucket.bucket, Key=key)["Body"].read()
    assert body == b"".join(parts)
