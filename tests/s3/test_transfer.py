"""Parallel, resumable, retried uploads (s3.transfer) against the real moto server, through the
WAN proxy (publishkit.sandbox.wan) where the link matters."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from publishkit.errors import StorageError
from publishkit.s3.bucket import S3Bucket, make_client
from publishkit.s3.put import Content, ContentChanged
from publishkit.s3.retries import Backoff, transient
from publishkit.s3.transfer import Resume, Transfers, TransferSettings
from publishkit.sandbox.s3 import S3Sandbox, SandboxInfo
from publishkit.sandbox.wan import WanProxy
from publishkit.workspace.state import OpenUploads, StateStore

MIB = 1024 * 1024
PARTS = TransferSettings(max_concurrency=4, part_size=5 * MIB, multipart_threshold=5 * MIB)
QUICK = Backoff(base=0.01, cap=0.05)


def bucket_at(endpoint: str, name: str) -> S3Bucket:
    return S3Bucket(make_client("us-west-2", endpoint), name, endpoint_url=endpoint)


def random_file(path: Path, mib: int) -> Content:
    data = os.urandom(mib * MIB)
    path.write_bytes(data)
    return Content(len(data), hashlib.blake2b(data).hexdigest(), hashlib.sha256(data).hexdigest())


def stored(s3_client: Any, bucket: str, key: str) -> list[bytes]:
    """The content of every version of `key` (read from moto, not through a proxy)."""
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return [
        s3_client.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
        for v in versions
        if v["Key"] == key
    ]


def open_uploads(s3_client: Any, bucket: str) -> list[str]:
    return [
        u["UploadId"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ]


def assert_stored_alone(s3_client: Any, bucket: str, key: str, versions: list[bytes]) -> None:
    """`key`'s versions hold exactly `versions` (none: nothing was stored), and no multipart
    upload is left open in the bucket: each upload ends stored whole, or aborted."""
    assert stored(s3_client, bucket, key) == versions
    assert open_uploads(s3_client, bucket) == []


@pytest.mark.slow
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_large_files_parts_go_up_at_once(
    aws_env, s3_server: S3Sandbox, bucket: SandboxInfo, s3_client, tmp_path: Path, concurrency: int
) -> None:
    path = tmp_path / "big.bin"
    content = random_file(path, 30)
    settings = TransferSettings(concurrency, 5 * MIB, 5 * MIB)
    with WanProxy(s3_server.endpoint_url, rate=16 * MIB) as proxy:
        target = bucket_at(proxy.endpoint_url, bucket.bucket)
        with Transfers(target, settings, QUICK) as transfers:
            sent = transfers.put_file("big.bin", path, content=content, on_bytes=lambda n: None)
        traffic = proxy.traffic()
    if concurrency == 1:  # one data connection (and one for create and complete)
        assert traffic.peak_connections <= 2, traffic
    else:
        assert traffic.peak_connections >= 4, traffic
    assert (sent.sent, sent.reused, sent.retries, sent.restarted) == (content.size, 0, 0, None)
    assert_stored_alone(s3_client, bucket.bucket, "big.bin", [path.read_bytes()])
    head = s3_client.head_object(Bucket=bucket.bucket, Key="big.bin", PartNumber=1)
    assert head["PartsCount"] == 6


@pytest.mark.slow
def test_a_link_dropping_every_12_mib_still_completes_sending_each_byte_at_most_1_5_times(
    aws_env, s3_server: S3Sandbox, bucket: SandboxInfo, s3_client, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    content = random_file(path, 30)
    with WanProxy(s3_server.endpoint_url, cut_every=12 * MIB) as proxy:
        target = bucket_at(proxy.endpoint_url, bucket.bucket)
        with Transfers(target, TransferSettings(2, 5 * MIB, 5 * MIB), QUICK) as transfers:
            sent = transfers.put_file("big.bin", path, content=content, on_bytes=lambda n: None)
        traffic = proxy.traffic()
    assert traffic.cuts >= 2, traffic  # the link really dropped, more than once
    assert sent.retries >= 2, sent
    assert traffic.bytes_up <= 1.5 * content.size, traffic
    assert_stored_alone(s3_client, bucket.bucket, "big.bin", [path.read_bytes()])


def test_a_permanent_error_is_not_retried(aws_env, s3_server: S3Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "small.bin"
    content = random_file(path, 1)
    waits: list[float] = []
    backoff = Backoff(sleep=waits.append)
    target = bucket_at(s3_server.endpoint_url, "no-such-bucket-here")
    with Transfers(target, PARTS, backoff) as transfers, pytest.raises(StorageError) as caught:
        transfers.put_file("small.bin", path, content=content, on_bytes=lambda n: None)
    assert "NoSuchBucket" in str(caught.value)
    assert waits == []


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "UploadPart",
    )


def test_transient_errors_are_told_from_permanent_ones() -> None:
    assert transient(_client_error("SlowDown", 503))
    assert transient(_client_error("RequestTimeout", 400))
    assert transient(_client_error("InternalError", 500))
    assert transient(ConnectionClosedError(endpoint_url="http://127.0.0.1:1"))
    assert not transient(_client_error("AccessDenied", 403))
    assert not transient(_client_error("NoSuchBucket", 404))
    assert not transient(_client_error("PreconditionFailed", 412))
    assert not transient(ContentChanged("a file changed"))


def interrupted_upload(
    s3_server: S3Sandbox, bucket: str, path: Path, content: Content, journal: OpenUploads
) -> None:
    """An upload of `path` that dies after three of its six parts: the link is cut after
    17 MiB and nothing is retried; the upload stays open, its three parts journaled."""
    with WanProxy(s3_server.endpoint_url, cut_every=17 * MIB) as proxy:
        target = bucket_at(proxy.endpoint_url, bucket)
        settings = TransferSettings(1, 5 * MIB, 5 * MIB)
        with (
            Transfers(target, settings, Backoff(attempts=1)) as transfers,
            pytest.raises(StorageError),
        ):
            transfers.put_file(
                "big.bin", path, content=content, on_bytes=lambda n: None, journal=journal
            )


def resume_of(journal: OpenUploads, bucket: str) -> Resume:
    (dead,) = journal.recorded(bucket)
    assert dead.upload_id is not None and dead.part_size == 5 * MIB
    return Resume(dead.token, dead.upload_id, dead.part_size, journal.parts(dead.token))


@pytest.mark.slow
def test_an_interrupted_upload_is_resumed_sending_only_the_missing_parts(
    aws_env, s3_server: S3Sandbox, bucket: SandboxInfo, s3_client, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    content = random_file(path, 30)
    with StateStore(tmp_path / "state.sqlite") as store:
        journal = OpenUploads(store)
        interrupted_upload(s3_server, bucket.bucket, path, content, journal)
        assert len(open_uploads(s3_client, bucket.bucket)) == 1
        resume = resume_of(journal, bucket.bucket)
        assert sorted(resume.parts) == [1, 2, 3]
        with WanProxy(s3_server.endpoint_url) as proxy:
            target = bucket_at(proxy.endpoint_url, bucket.bucket)
            with Transfers(target, PARTS, QUICK) as transfers:
                sent = transfers.put_file(
                    "big.bin",
                    path,
                    content=content,
                    on_bytes=lambda n: None,
                    journal=journal,
                    resume=resume,
                )
            traffic = proxy.traffic()
        assert journal.recorded(bucket.bucket) == []
    assert (sent.reused, sent.sent, sent.restarted) == (15 * MIB, 15 * MIB, None)
    assert 15 * MIB <= traffic.bytes_up < 16 * MIB  # parts 4 to 6, and requests' headers
    assert_stored_alone(s3_client, bucket.bucket, "big.bin", [path.read_bytes()])


@pytest.mark.slow
def test_an_upload_the_bucket_no_longer_has_starts_again_and_says_so(
    aws_env, s3_server: S3Sandbox, bucket: SandboxInfo, s3_client, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    content = random_file(path, 30)
    with StateStore(tmp_path / "state.sqlite") as store:
        journal = OpenUploads(store)
        interrupted_upload(s3_server, bucket.bucket, path, content, journal)
        resume = resume_of(journal, bucket.bucket)
        s3_client.abort_multipart_upload(
            Bucket=bucket.bucket, Key="big.bin", UploadId=resume.upload_id
        )  # a lifecycle rule, or someone, cleaned it up
        target = bucket_at(s3_server.endpoint_url, bucket.bucket)
        with Transfers(target, PARTS, QUICK) as transfers:
            sent = transfers.put_file(
                "big.bin",
                path,
                content=content,
                on_bytes=lambda n: None,
                journal=journal,
                resume=resume,
            )
        assert journal.recorded(bucket.bucket) == []
    assert sent.restarted is not None and "no longer has" in sent.restarted
    assert (sent.sent, sent.reused) == (content.size, 0)
    assert_stored_alone(s3_client, bucket.bucket, "big.bin", [path.read_bytes()])


@pytest.mark.slow
def test_a_file_rewritten_during_a_parallel_upload_is_caught(
    aws_env, s3_server: S3Sandbox, bucket: SandboxInfo, s3_client, tmp_path: Path
) -> None:
    """Rewritten in its last part while the first parts go up, four at once: whether that part
    was checksummed before or after the rewrite, nothing is completed."""
    path = tmp_path / "big.bin"
    content = random_file(path, 30)
    rewritten = threading.Event()

    def rewrite_once(n: int) -> None:  # as soon as S3 acknowledged a part
        if not rewritten.is_set():
            rewritten.set()
            with path.open("r+b") as handle:
                handle.seek(28 * MIB)
                handle.write(os.urandom(16))

    with WanProxy(s3_server.endpoint_url, rate=16 * MIB) as proxy:
        target = bucket_at(proxy.endpoint_url, bucket.bucket)
        with Transfers(target, PARTS, QUICK) as transfers, pytest.raises(ContentChanged) as caught:
            transfers.put_file("big.bin", path, content=content, on_bytes=rewrite_once)
    assert rewritten.is_set()
    assert "big.bin changed while it was being released" in str(caught.value)
    assert_stored_alone(s3_client, bucket.bucket, "big.bin", [])


@pytest.mark.slow
def test_bytes_rewritten_after_their_part_was_sent_leave_the_hashed_content(
    aws_env, s3_server: S3Sandbox, bucket: SandboxInfo, s3_client, tmp_path: Path
) -> None:
    """Part 1 is acknowledged, then its bytes change on disk: what S3 completes is exactly the
    content that was hashed (the bytes sent), never a mix."""
    path = tmp_path / "big.bin"
    content = random_file(path, 30)
    original = path.read_bytes()
    acknowledged: list[int] = []

    def rewrite_after_three(n: int) -> None:
        acknowledged.append(n)
        if len(acknowledged) == 3:
            with path.open("r+b") as handle:
                handle.seek(1 * MIB)
                handle.write(os.urandom(16))

    target = bucket_at(s3_server.endpoint_url, bucket.bucket)
    with Transfers(target, TransferSettings(1, 5 * MIB, 5 * MIB), QUICK) as transfers:
        transfers.put_file("big.bin", path, content=content, on_bytes=rewrite_after_three)
    assert path.read_bytes() != original
    assert_stored_alone(s3_client, bucket.bucket, "big.bin", [original])
