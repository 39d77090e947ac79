"""The upload step of a release: what changed goes up to S3, exactly as it was hashed.

Each file that a draft manifest does not pin yet is uploaded (or adopted, when a run that died
before its manifest already uploaded that content) and its new version ID is pinned in the
draft. The bytes sent are the bytes hashed (`s3_put`); a file changed since it was hashed is
refused before anything is uploaded, and one changed while it uploads leaves no version.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import msgspec

from publishkit.errors import CheckFailed, Interrupted, PublishkitError
from publishkit.interrupts import Interrupt, never
from publishkit.progress import Progress, no_progress
from publishkit.release.s3_staging import Staged, stage_release
from publishkit.s3.bucket import BLAKE2B_METADATA, ConditionFailed, ObjectVersion, S3Bucket
from publishkit.s3.put import Content, changed
from publishkit.s3.transfer import Resume, Sent, Transfers, TransferSettings
from publishkit.workspace.config import S3Settings, Settings
from publishkit.workspace.digests import DigestCache, FileDigests
from publishkit.workspace.inventory import ReleaseFile
from publishkit.workspace.runlock import exclusive_run
from publishkit.workspace.state import FileIdentity, OpenUploads, StateStore

log = logging.getLogger(__name__)

T = TypeVar("T")


class S3UploadResult(msgspec.Struct, frozen=True):
    """What the upload step sent (or adopted) and what it left as it was."""

    uploaded: tuple[str, ...]  # relpaths
    unchanged: int
    bytes_sent: int = 0  # acknowledged by S3 in this run (retries not counted twice)
    bytes_resumed: int = 0  # parts an earlier run sent, checked against the files and kept
    retries: int = 0  # requests sent again after a transient error
    resumed: tuple[str, ...] = ()  # relpaths whose interrupted upload was resumed
    restarted: tuple[tuple[str, str], ...] = ()  # (relpath, why its upload started over)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "uploaded": list(self.uploaded),
            "unchanged": self.unchanged,
            "bytes_sent": self.bytes_sent,
            "bytes_resumed": self.bytes_resumed,
            "retries": self.retries,
            "resumed": list(self.resumed),
            "restarted": [{"path": path, "reason": why} for path, why in self.restarted],
        }


def upload_to_s3(
    *, settings: Settings, wait: bool = False, progress: Progress = no_progress
) -> S3UploadResult:
    """The upload step of a release alone: what changed goes up, no manifest is written; the
    next release (or `release --only manifest`) pins what was uploaded."""
    with exclusive_run(settings.state_dir, "upload", wait=wait):
        staged = stage_release(settings=settings, allow_empty=True, progress=progress)
        return upload_release(settings=settings, staged=staged, progress=progress)


def settle_dead_uploads(
    store: StateStore, bucket: S3Bucket, identity_of: Callable[[str], FileIdentity | None]
) -> tuple[dict[str, Resume], dict[str, str]]:
    """The multipart uploads that runs of this workspace left open when they died. Call it
    with the workspace's run lock held: then every upload on record is a dead run's. One whose
    key this run uploads, of the same file (`identity_of(key)`: size, mtime, inode, blake2b),
    is handed back to resume; every other is aborted, and for a key this run uploads, why
    (the file changed) is handed back. Uploads this workspace did not record (another
    writer's) are never touched; an upload recorded as begun without an id stands for those
    open on its exact key."""
    log_ = OpenUploads(store)
    resumes: dict[str, Resume] = {}
    restarted: dict[str, str] = {}
    aborted = 0
    for upload in log_.recorded(bucket.name):
        identity = identity_of(upload.key)
        if upload.upload_id is not None and upload.identity is not None:
            if upload.identity == identity and upload.part_size and upload.key not in resumes:
                parts = log_.parts(upload.token)
                resumes[upload.key] = Resume(
                    upload.token, upload.upload_id, upload.part_size, parts
                )
                continue
            if identity is not None:
                restarted[upload.key] = "it changed since an earlier run began uploading it"
        if upload.upload_id is not None:
            aborted += bucket.abort_upload(upload.key, upload.upload_id)
        else:  # begun, but the run died before S3 gave it an id: the open ones on its key
            for upload_id in bucket.open_uploads(upload.key):
                aborted += bucket.abort_upload(upload.key, upload_id)
        log_.ended(upload.token)
    if aborted:
        log.info("aborted %d multipart upload(s) left open by a run that died", aborted)
    return resumes, restarted


def transfer_settings(s3: S3Settings) -> TransferSettings:
    """The workspace's s3 settings, as the transfers take them."""
    return TransferSettings(s3.max_concurrency, s3.part_size, s3.multipart_threshold)


def upload_release(
    *, settings: Settings, staged: Staged, progress: Progress, interrupt: Interrupt = never
) -> S3UploadResult:
    """Upload (or adopt) every file the draft does not pin yet and pin its new version ID in
    the draft: several files at once, a large file's parts at once, an upload a dead run left
    open resumed when the file is the one it was sending. Refused before any upload when a
    file changed since it was hashed; a failed upload fails the step (the others' uploads are
    adopted by the next run, its own resumed). Interrupted, no upload starts; those under way
    complete."""
    bucket, draft, digests = staged.target.bucket, staged.draft, staged.digests
    pending = draft.pending()
    log.info("%d of %d files changed since the last manifest", len(pending), len(staged.files))
    s3 = settings.s3
    by_key = {s3.key(f.relpath): f for f in pending}

    def identity_of(key: str) -> FileIdentity | None:
        item = by_key.get(key)
        if item is None:
            return None
        try:
            stat = item.path.stat()
        except OSError:
            return None
        blake2b = digests[item.relpath].blake2b
        return FileIdentity(stat.st_size, stat.st_mtime_ns, stat.st_ino, blake2b)

    with StateStore.in_dir(settings.state_dir) as store:
        _refuse_changed_since_hashed(store, pending, digests)
        resumes, restarted = settle_dead_uploads(store, bucket, identity_of)
        for key, why in restarted.items():
            log.warning("%s: starting its upload again: %s", by_key[key].path, why)
        uploads = OpenUploads(store)
        total = sum(digests[f.relpath].size for f in pending)
        new = sum(draft.is_new(f) for f in pending)
        existing = _existing_keys(settings, bucket, len(staged.files), new)
        tally = _Tally()

        def upload(item: ReleaseFile) -> tuple[ReleaseFile, str]:
            interrupt(f"the upload of {item.relpath}")
            digest = digests[item.relpath]
            key = s3.key(item.relpath)
            current = bucket.head(key) if existing is None or key in existing else None
            resume = resumes.get(key)
            if holds(current, digest):  # a run that died before its manifest uploaded it
                assert current is not None
                log.info("adopting s3://%s/%s version %s", bucket.name, key, current.version_id)
                if resume is not None:  # it died between Complete and forgetting the upload
                    uploads.ended(resume.token)
                progress("Uploading", digest.size, total, done=item.relpath)
                return item, current.version_id
            log.info(
                "%s %s (%d bytes) to s3://%s/%s",
                "resuming the upload of" if resume else "uploading",
                item.path,
                digest.size,
                bucket.name,
                key,
            )
            try:
                sent = transfers.put_file(
                    key,
                    item.path,
                    content=Content(digest.size, digest.blake2b, digest.sha256),
                    on_bytes=lambda n: progress("Uploading", n, total),
                    replaces=current,
                    journal=uploads,
                    resume=resume,
                )
            except ConditionFailed:
                landed = bucket.head(key)  # our own PUT, applied before its answer was lost?
                if not (landed and landed.metadata.get(BLAKE2B_METADATA) == digest.blake2b):
                    raise
                return item, landed.version_id
            tally.add(item.relpath, sent, resumed=resume is not None)
            progress("Uploading", 0, total, done=item.relpath)
            return item, sent.version_id

        failures = []
        chosen = transfer_settings(s3)
        if pending:  # else no clients and no threads to make
            with (
                Transfers(bucket, chosen) as transfers,
                ThreadPoolExecutor(chosen.files_at_once) as pool,
            ):
                for future in _submitted(pool, upload, pending, chosen.files_at_once * 2):
                    try:
                        item, version_id = future.result()
                    except Interrupted:
                        raise
                    except PublishkitError as exc:
                        failures.append(str(exc))
                        continue
                    draft.pin(item, version_id)
    if failures:
        raise CheckFailed(
            f"{len(failures)} of {len(pending)} uploads failed, no manifest was written; "
            f"first: {failures[0]}",
            hint="fix the cause and run the release again; finished uploads are re-used and "
            "interrupted ones resumed",
        )
    restarted_files = {by_key[k].relpath: why for k, why in restarted.items()}
    return tally.result(pending, len(staged.files) - len(pending), restarted_files)


class _Tally:
    """What the uploads sent, added up from the upload threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = self.reused = self.retries = 0
        self.resumed: list[str] = []
        self.restarted: dict[str, str] = {}

    def add(self, relpath: str, sent: Sent, *, resumed: bool) -> None:
        with self._lock:
            self.sent += sent.sent
            self.reused += sent.reused
            self.retries += sent.retries
            if sent.restarted:
                self.restarted[relpath] = sent.restarted
            elif resumed:
                self.resumed.append(relpath)

    def result(
        self, pending: list[ReleaseFile], unchanged: int, restarted: dict[str, str]
    ) -> S3UploadResult:
        every = {**restarted, **self.restarted}
        return S3UploadResult(
            uploaded=tuple(f.relpath for f in pending),
            unchanged=unchanged,
            bytes_sent=self.sent,
            bytes_resumed=self.reused,
            retries=self.retries,
            resumed=tuple(sorted(self.resumed)),
            restarted=tuple(sorted(every.items())),
        )


def holds(current: ObjectVersion | None, digest: FileDigests) -> bool:
    """The object version holds this content: the size and the blake2b it was uploaded with
    (every upload checks that the bytes it sends have that blake2b)."""
    return (
        current is not None
        and current.size == digest.size
        and current.metadata.get(BLAKE2B_METADATA) == digest.blake2b
    )


def _refuse_changed_since_hashed(
    store: StateStore, pending: list[ReleaseFile], digests: dict[str, FileDigests]
) -> None:
    """Before any upload: a file whose size, mtime or inode changed since the release hashed
    it is refused, so that the common case (a file edited while the release was being staged
    or inspected) leaves the bucket untouched. Content changed later is caught as it is sent."""
    cache = DigestCache(store)
    for item in pending:
        try:
            known = cache.known(item.path)
        except OSError:
            known = None
        if known != digests[item.relpath]:
            raise changed(str(item.path), "it was modified after it was hashed")


def _existing_keys(settings: Settings, bucket: S3Bucket, files: int, new: int) -> set[str] | None:
    """The keys under the release's prefix, when listing them (a request per 1,000 keys) costs
    fewer requests than asking for each file new to the manifest (a HEAD each; a changed file
    has a key and needs its HEAD anyway); None otherwise. Only keys that exist need a HEAD (to
    adopt an object a crashed run uploaded, or to replace it)."""
    if files // 1000 + 1 >= new:
        return None
    return set(bucket.list_keys(settings.s3.key("")))


def _submitted(
    pool: ThreadPoolExecutor, function: Callable[[T], Any], items: list[T], ahead: int
) -> Iterator[Future[Any]]:
    """function(item) for each item on `pool`, in order, with at most `ahead` submitted and
    not yet handed over: memory stays flat in the number of files."""
    waiting: deque[Future[Any]] = deque()
    for item in items:
        waiting.append(pool.submit(function, item))
        if len(waiting) >= ahead:
            yield waiting.popleft()
    yield from waiting
