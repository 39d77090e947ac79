"""A run's uploads, in parallel: several files at once, a large file's parts at once.

`Transfers` holds `max_concurrency` slots for parts, shared by every large file of the run (one
huge file goes up as that many parts at once), and `files_at_once` (8 x max_concurrency, at
most 64) for small files' PUTs (many small files go up side by side). Memory stays bounded by
the slots: each body is read from the file as it is sent, never held whole.

Every guarantee of `s3.put` holds part by part: a file's parts are read once, in order, to
checksum each and feed the whole-file hashers; each part's body, sent from any thread, refuses
to hand over other bytes; the whole file must match before the upload is completed. Each part
S3 acknowledges is journaled (`MultipartLog`), so a run that dies leaves an upload the next run
resumes (`Resume`): the parts S3 lists and the journal vouches for are checked against the
file's bytes and kept, and only the rest is sent. Transient errors are retried per request
with backoff and jitter (`s3.retries`); a failed or interrupted upload stays open for the next
run to resume, unless the file changed (then it is aborted: it could only make a wrong object).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from publishkit.s3 import content_types
from publishkit.s3.bucket import (
    BLAKE2B_METADATA,
    ConditionFailed,
    ObjectVersion,
    S3Bucket,
)
from publishkit.s3.put import (
    Content,
    ContentChanged,
    Part,
    Parts,
    changed,
    multipart_etag,
    whole_file,
)
from publishkit.s3.retries import Backoff, RetryCount, retried, transient
from publishkit.workspace.state.uploads import FileIdentity, JournaledPart

MIB = 1024 * 1024
DEFAULT_CONCURRENCY = 10
DEFAULT_PART_SIZE = 8 * MIB
CONTROL_ATTEMPTS = 8  # botocore's standard retries for create, list, complete, abort, head


class TransferSettings(msgspec.Struct, frozen=True):
    """How many requests a run has in flight at once, and how files are cut into parts."""

    max_concurrency: int = DEFAULT_CONCURRENCY
    part_size: int | None = None  # None: the smaller of the threshold and 8 MiB
    multipart_threshold: int = 64 * MIB

    @property
    def files_at_once(self) -> int:
        """Small files (one PUT each) in flight at once: 8 x max_concurrency, at most 64. A
        small request's time is mostly round trips, not bytes, and its body is streamed from
        the file, so more of them at once cost neither bandwidth nor memory."""
        return max(self.max_concurrency, min(64, 8 * self.max_concurrency))

    def part_size_for(self, size: int) -> int:
        """The part size for a file of `size` bytes (Parts raises it to stay in 10,000 parts)."""
        return self.part_size or min(self.multipart_threshold, DEFAULT_PART_SIZE)


class MultipartLog(Protocol):
    """Where a run journals the multipart uploads it has open: `begin` before the upload
    exists, `started` once it has an id (with the file it sends and its part size), `part_done`
    for each part S3 acknowledged, `ended` once it is completed or aborted."""

    def begin(self, bucket: str, key: str) -> int: ...
    def started(
        self, token: int, upload_id: str, identity: FileIdentity | None = None, part_size: int = 0
    ) -> None: ...
    def part_done(self, token: int, number: int, part: JournaledPart) -> None: ...
    def ended(self, token: int) -> None: ...


class Resume(msgspec.Struct, frozen=True):
    """A dead run's multipart upload of this same file, as the journal has it."""

    token: int
    upload_id: str
    part_size: int
    parts: Mapping[int, JournaledPart]


class Sent(msgspec.Struct, frozen=True):
    """What one file's upload did."""

    version_id: str
    sent: int  # bytes S3 acknowledged in this run
    reused: int  # bytes of a dead run's parts kept
    retries: int
    restarted: str | None = None  # why a dead run's upload of it could not be resumed


class Transfers:
    """The uploads of one run (a context manager): request slots and a pool of part senders
    shared by every file."""

    def __init__(
        self, bucket: S3Bucket, settings: TransferSettings, backoff: Backoff | None = None
    ) -> None:
        self._connections = connections = settings.files_at_once + settings.max_concurrency + 4
        self.settings = settings
        self._given = bucket
        self._control: S3Bucket | None = None  # made by the first multipart upload (`bucket`)
        self._control_lock = threading.Lock()
        # Data requests: retried here, part by part; their bodies carry a signed SHA-256 header
        self._data = bucket.tuned(connections=connections, attempts=1, sign_payload=False).client
        self._backoff = backoff or Backoff()
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)  # parts in flight
        self._small = threading.BoundedSemaphore(settings.files_at_once)  # single PUTs
        self._pool = ThreadPoolExecutor(settings.max_concurrency, thread_name_prefix="s3-part")

    @property
    def bucket(self) -> S3Bucket:
        """The bucket through the client of the multipart uploads' control requests (create,
        complete, abort, HEAD), with botocore's retries: made when the first large file needs
        it, so a run of single PUTs makes one client of its own, not two (~15 ms each)."""
        with self._control_lock:
            if self._control is None:
                self._control = self._given.tuned(
                    connections=self._connections, attempts=CONTROL_ATTEMPTS
                )
            return self._control

    def __enter__(self) -> Transfers:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content: Content,
        on_bytes: Callable[[int], None],
        replaces: ObjectVersion | None = None,
        journal: MultipartLog | None = None,
        resume: Resume | None = None,
    ) -> Sent:
        """Upload a file that must be `content`, with S3-verified SHA-256 checksums. A file
        that is not `content` leaves no version (ContentChanged). A single PUT is conditional
        on the key's current state (`replaces`: absent, or that ETag), so a retry of a PUT S3
        applied but whose answer was lost fails with ConditionFailed, for the caller to adopt
        what is there."""
        extra = {
            "ContentType": content_types.for_file(path),
            "Metadata": {BLAKE2B_METADATA: content.blake2b},
        }
        count = RetryCount()
        try:
            with open(path, "rb", buffering=0) as handle:
                fd = handle.fileno()
                stat = os.fstat(fd)
                if stat.st_size != content.size:
                    raise changed(str(path), "its size is not the one recorded for the release")
                if content.size >= self.settings.multipart_threshold:
                    identity = FileIdentity(
                        stat.st_size, stat.st_mtime_ns, stat.st_ino, content.blake2b
                    )
                    upload = _Multipart(self, key, fd, str(path), content, extra, count, journal)
                    return upload.run(identity, resume, on_bytes)
                condition = {"IfMatch": replaces.etag} if replaces else {"IfNoneMatch": "*"}

                def put() -> Any:
                    return self._data.put_object(
                        Bucket=self._given.name,
                        Key=key,
                        Body=whole_file(fd, content, str(path)),
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=content.b64_sha256(),
                        **condition,
                        **extra,
                    )

                with self._small:
                    response = retried(put, backoff=self._backoff, count=count)
                on_bytes(content.size)
                return Sent(str(response["VersionId"]), content.size, 0, count.value)
        except ClientError as exc:
            if _code(exc) == "PreconditionFailed":
                raise ConditionFailed(
                    f"s3://{self._given.name}/{key} changed during the upload"
                ) from None
            raise self._given.error(exc, key) from None
        except BotoCoreError as exc:
            raise self._given.error(exc, key) from None


class _Multipart:
    """One file's multipart upload: started or resumed, its parts sent on the shared pool."""

    def __init__(
        self,
        transfers: Transfers,
        key: str,
        fd: int,
        label: str,
        content: Content,
        extra: dict[str, Any],
        count: RetryCount,
        journal: MultipartLog | None,
    ) -> None:
        self.t = transfers
        self.client = transfers.bucket.client
        self.name = transfers.bucket.name
        self.key, self.fd, self.label, self.content = key, fd, label, content
        self.extra, self.count, self.journal = extra, count, journal
        self.failed = threading.Event()

    def run(
        self, identity: FileIdentity, resume: Resume | None, on_bytes: Callable[[int], None]
    ) -> Sent:
        restarted, kept = None, {}
        if resume is not None:
            listed = self._listed(resume.upload_id)
            if listed is None:
                restarted = "the bucket no longer has the upload an earlier run left open"
                if self.journal:
                    self.journal.ended(resume.token)
                resume = None
            else:
                kept = _vouched(resume.parts, listed)
        if resume is None:
            part_size = self.t.settings.part_size_for(self.content.size)
            token = self.journal.begin(self.name, self.key) if self.journal else None
            upload_id = str(
                self.client.create_multipart_upload(
                    Bucket=self.name, Key=self.key, ChecksumAlgorithm="SHA256", **self.extra
                )["UploadId"]
            )
            if self.journal and token is not None:
                self.journal.started(token, upload_id, identity, part_size)
        else:
            token, upload_id, part_size = resume.token, resume.upload_id, resume.part_size
        parts = Parts(self.fd, self.content, part_size, self.label)
        try:
            done, reused = self._send(parts, upload_id, token, kept, on_bytes)
            parts.check_whole()
            version_id = self._complete(upload_id, [done[n] for n in sorted(done)])
        except (ContentChanged, ClientError) as exc:
            if isinstance(exc, ContentChanged) or not transient(exc):
                self._abort(upload_id, token)  # it could only ever make a wrong object
            raise
        if self.journal and token is not None:
            self.journal.ended(token)
        sent = self.content.size - reused
        return Sent(version_id, sent, reused, self.count.value, restarted)

    def _send(
        self,
        parts: Parts,
        upload_id: str,
        token: int | None,
        kept: Mapping[int, JournaledPart],
        on_bytes: Callable[[int], None],
    ) -> tuple[dict[int, dict[str, Any]], int]:
        """Every part: kept when a dead run sent these same bytes, else sent on the pool.
        Returns each part's entry for Complete, and the bytes kept."""
        done: dict[int, dict[str, Any]] = {}
        futures: list[Future[None]] = []
        reused = 0

        def send(part: Part) -> None:
            try:
                response = retried(
                    lambda: self.t._data.upload_part(
                        Bucket=self.name,
                        Key=self.key,
                        UploadId=upload_id,
                        PartNumber=part.number,
                        Body=parts.body(part),
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=part.checksum,
                    ),
                    backoff=self.t._backoff,
                    count=self.count,
                )
                etag = str(response["ETag"])
                if self.journal and token is not None:
                    self.journal.part_done(
                        token, part.number, JournaledPart(part.length, part.checksum, etag)
                    )
                done[part.number] = _entry(part.number, etag, part.checksum)
                on_bytes(part.length)
            except BaseException:
                self.failed.set()
                raise
            finally:
                self.t._slots.release()

        try:
            for part in parts.checksummed():
                old = kept.get(part.number)
                if old and (old.size, old.sha256) == (part.length, part.checksum):
                    done[part.number] = _entry(part.number, old.etag, old.sha256)
                    reused += part.length
                    on_bytes(part.length)
                    continue
                got = False
                while not got and not self.failed.is_set():
                    got = self.t._slots.acquire(timeout=0.5)
                if self.failed.is_set():  # a part failed: send no more
                    if got:
                        self.t._slots.release()
                    break
                futures.append(self.t._pool.submit(send, part))
        finally:
            wait(futures)  # no thread reads the file once this returns
        errors = [e for f in futures if (e := f.exception()) is not None]
        if errors:  # a changed file first: it says what really went wrong
            raise next((e for e in errors if isinstance(e, ContentChanged)), errors[0])
        return done, reused

    def _listed(self, upload_id: str) -> dict[int, dict[str, Any]] | None:
        """The parts S3 holds for the upload, by number; None when it no longer has it."""
        listed: dict[int, dict[str, Any]] = {}
        try:
            for page in self.client.get_paginator("list_parts").paginate(
                Bucket=self.name, Key=self.key, UploadId=upload_id
            ):
                listed.update({int(p["PartNumber"]): p for p in page.get("Parts", [])})
        except ClientError as exc:
            if _code(exc) in {"NoSuchUpload", "404", "NotFound"}:
                return None
            raise
        return listed

    def _complete(self, upload_id: str, parts: list[dict[str, Any]]) -> str:
        """Complete the upload; a retry whose first attempt landed (its answer lost) finds the
        upload gone and recognises the object it made by its ETag and blake2b."""
        try:
            response = self.client.complete_multipart_upload(
                Bucket=self.name, Key=self.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise
            landed = self.t.bucket.head(self.key)
            expected = multipart_etag([part["ETag"] for part in parts])
            blake2b = self.extra["Metadata"][BLAKE2B_METADATA]
            if landed is None or (landed.etag, landed.metadata.get(BLAKE2B_METADATA)) != (
                expected,
                blake2b,
            ):
                raise
            return landed.version_id
        return str(response["VersionId"])

    def _abort(self, upload_id: str, token: int | None) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.name, Key=self.key, UploadId=upload_id)
        if self.journal and token is not None:
            self.journal.ended(token)


def _vouched(
    journaled: Mapping[int, JournaledPart], listed: Mapping[int, dict[str, Any]]
) -> dict[int, JournaledPart]:
    """The parts S3 still holds as the journal recorded them (same size and ETag; the same
    checksum when S3 lists one), and those S3 lists with a checksum the journal missed (the
    run died between S3's answer and the journal). Each is kept only if the file's bytes still
    have that checksum."""
    kept = {}
    for number, held in listed.items():
        size, etag = int(held["Size"]), str(held["ETag"])
        checksum = held.get("ChecksumSHA256")
        ours = journaled.get(number)
        if ours is not None and (ours.size, ours.etag) == (size, etag):
            if checksum is None or checksum == ours.sha256:
                kept[number] = ours
        elif checksum is not None:
            kept[number] = JournaledPart(size, str(checksum), etag)
    return kept


def _entry(number: int, etag: str, checksum: str) -> dict[str, Any]:
    return {"ETag": etag, "PartNumber": number, "ChecksumSHA256": checksum}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
