"""The upload step of a release: what changed goes up to S3, exactly as it was hashed.

Each file that a draft manifest does not pin yet is uploaded (or adopted, when a run that died
before its manifest already uploaded that content) and its new version ID is pinned in the
draft. The bytes sent are the bytes hashed (`s3_put`); a file changed since it was hashed is
refused before anything is uploaded, and one changed while it uploads leaves no version.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from publishkit.errors import CheckFailed, Interrupted, PublishkitError
from publishkit.interrupts import Interrupt, never
from publishkit.progress import Progress, no_progress
from publishkit.release.s3_staging import Staged, stage_release
from publishkit.s3.bucket import BLAKE2B_METADATA, ConditionFailed, ObjectVersion, S3Bucket
from publishkit.s3.put import Content, changed
from publishkit.workspace.config import Settings
from publishkit.workspace.digests import DigestCache, FileDigests
from publishkit.workspace.inventory import ReleaseFile
from publishkit.workspace.runlock import exclusive_run
from publishkit.workspace.state import OpenUploads, StateStore

log = logging.getLogger(__name__)
UPLOAD_THREADS = 4

T = TypeVar("T")


@dataclass(frozen=True)
class S3UploadResult:
    """What the upload step sent (or adopted) and what it left as it was."""

    uploaded: tuple[str, ...]  # relpaths
    unchanged: int

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {"uploaded": list(self.uploaded), "unchanged": self.unchanged}


def upload_to_s3(
    *, settings: Settings, wait: bool = False, progress: Progress = no_progress
) -> S3UploadResult:
    """The upload step of a release alone: what changed goes up, no manifest is written; the
    next release (or `release --only manifest`) pins what was uploaded."""
    with exclusive_run(settings.state_dir, "upload", wait=wait):
        staged = stage_release(settings=settings, allow_empty=True, progress=progress)
        return upload_release(settings=settings, staged=staged, progress=progress)


def abort_dead_uploads(store: StateStore, bucket: S3Bucket) -> int:
    """Abort the multipart uploads that runs of this workspace left open when they died. Call
    it with the workspace's run lock held: then every upload on record is a dead run's. Uploads
    this workspace did not record (another writer's) are never touched; an upload recorded as
    begun without an id stands for those open on its exact key."""
    log_ = OpenUploads(store)
    aborted = 0
    for upload in log_.recorded(bucket.name):
        if upload.upload_id is not None:
            aborted += bucket.abort_upload(upload.key, upload.upload_id)
        else:  # begun, but the run died before S3 gave it an id: the open ones on its key
            for upload_id in bucket.open_uploads(upload.key):
                aborted += bucket.abort_upload(upload.key, upload_id)
        log_.ended(upload.token)
    if aborted:
        log.info("aborted %d multipart upload(s) left open by a run that died", aborted)
    return aborted


def upload_release(
    *, settings: Settings, staged: Staged, progress: Progress, interrupt: Interrupt = never
) -> S3UploadResult:
    """Upload (or adopt) every file the draft does not pin yet and pin its new version ID in
    the draft. Refused before any upload when a file changed since it was hashed; a failed
    upload fails the step (the others' uploads are adopted by the next run). Interrupted, no
    upload starts; those under way complete."""
    bucket, draft, digests = staged.target.bucket, staged.draft, staged.digests
    pending = draft.pending()
    log.info("%d of %d files changed since the last manifest", len(pending), len(staged.files))
    with StateStore.in_dir(settings.state_dir) as store:
        _refuse_changed_since_hashed(store, pending, digests)
        abort_dead_uploads(store, bucket)
        uploads = OpenUploads(store)
        total = sum(digests[f.relpath].size for f in pending)
        new = sum(draft.is_new(f) for f in pending)
        existing = _existing_keys(settings, bucket, len(staged.files), new)

        def upload(item: ReleaseFile) -> tuple[ReleaseFile, str]:
            interrupt(f"the upload of {item.relpath}")
            digest = digests[item.relpath]
            key = settings.s3.key(item.relpath)
            current = bucket.head(key) if existing is None or key in existing else None
            if holds(current, digest):  # a run that died before its manifest uploaded it
                assert current is not None
                log.info("adopting s3://%s/%s version %s", bucket.name, key, current.version_id)
                progress("Uploading", digest.size, total)
                return item, current.version_id
            log.info(
                "uploading %s (%d bytes) to s3://%s/%s", item.path, digest.size, bucket.name, key
            )
            try:
                version_id = bucket.put_file(
                    key,
                    item.path,
                    content=Content(digest.size, digest.blake2b, digest.sha256),
                    multipart_threshold=settings.s3.multipart_threshold,
                    on_bytes=lambda n: progress("Uploading", n, total),
                    replaces=current,
                    uploads=uploads,
                )
            except ConditionFailed:
                landed = bucket.head(key)  # our own PUT, applied before its answer was lost?
                if not (landed and landed.metadata.get(BLAKE2B_METADATA) == digest.blake2b):
                    raise
                version_id = landed.version_id
            return item, version_id

        failures = []
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            for future in _submitted(pool, upload, pending, UPLOAD_THREADS * 4):
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
            hint="fix the cause and run the release again; finished uploads are re-used",
        )
    return S3UploadResult(tuple(f.relpath for f in pending), len(staged.files) - len(pending))


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
