"""Prove a published release is intact: every pinned version exists, with its size and hash.

The LINDI indexes the manifest records are checked too, one check each after the files
(`index_checks`)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from publishkit.consume.index_checks import check_index, indexes_of
from publishkit.consume.transfer import TransferSettings, digest_in_ranges
from publishkit.errors import PublishkitError
from publishkit.formats import manifest
from publishkit.formats.lindi_index import IndexRecord
from publishkit.progress import Progress, no_progress
from publishkit.s3.pinned import BucketPool, PinnedFile, ReadSettings, pinned_files
from publishkit.tally import Tally
from publishkit.workspace.digests import FileDigests

if TYPE_CHECKING:
    from publishkit.s3.bucket import S3Bucket

Status = Literal["ok", "missing", "size-mismatch", "hash-mismatch", "error"]
THREADS = 8


class FileCheck(msgspec.Struct, frozen=True):
    """One pinned file's check: its status, the detail of a problem, a warning."""

    path: str
    version_id: str
    status: Status
    detail: str = ""
    warning: str = ""  # e.g. a newer version than the pinned one exists
    retries: int = 0  # ranges read again after a transient failure (--deep)


class VerifyReport(Tally, msgspec.Struct, frozen=True):
    """Each pinned file's check; ok when every one is ok."""

    ITEMS, OUTCOME, PASSED = "checks", "status", "ok"
    OUTCOMES = ("ok", "missing", "size-mismatch", "hash-mismatch", "error")

    manifest: str
    version: str
    deep: bool
    checks: tuple[FileCheck, ...]
    warnings: tuple[str, ...]  # bucket-level, e.g. versioning suspended

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "manifest": self.manifest,
            "manifest_version": self.version,
            "deep": self.deep,
            "ok": self.ok,
            "retries": sum(check.retries for check in self.checks),
            "warnings": list(self.warnings),
            "files": self.items_json(),
        }


def verify_release(
    *,
    manifest_path: Path,
    read: ReadSettings,
    deep: bool = False,
    transfer: TransferSettings = TransferSettings(),
    progress: Progress = no_progress,
) -> VerifyReport:
    """Check that every version a manifest pins exists with its recorded size (and, deep, every
    digest it records: a large file read as parallel ranges, `transfer`'s, hashed in order),
    and each LINDI index it records (deep: its hash, and its references at the pinned file)."""
    document = manifest.load(manifest_path)
    files = pinned_files(document, read)
    indexes = indexes_of(dict(document), files)
    pool = BucketPool(read, connections=transfer.concurrency + THREADS)
    warnings = [_versioning_warning(pool, name) for name in sorted({f.bucket for f in files})]

    def check(item: PinnedFile) -> FileCheck:
        try:
            result = _check_one(pool, item, deep, transfer)
        except PublishkitError as exc:
            result = FileCheck(item.relpath, item.version_id, "error", str(exc))
        progress("Verifying", 1, len(files) + len(indexes))
        return result

    def check_lindi(item: PinnedFile, record: IndexRecord, url: str) -> FileCheck:
        try:
            problem = check_index(pool.get(item.bucket), item, record, url, deep=deep)
        except PublishkitError as exc:
            problem = "error", str(exc)
        progress("Verifying", 1, len(files) + len(indexes))
        if problem is None:
            return FileCheck(record["path"], record["version_id"], "ok")
        return FileCheck(record["path"], record["version_id"], *problem)

    with ThreadPoolExecutor(THREADS) as executor:  # whole files, while the ranged ones go
        ranged = {n for n, item in enumerate(files) if deep and transfer.ranged(item.size)}
        whole = {n: executor.submit(check, item) for n, item in enumerate(files) if n not in ranged}
        one_by_one = {n: check(files[n]) for n in sorted(ranged)}  # memory stays bounded
        lindi = [executor.submit(check_lindi, *index) for index in indexes]
        checks = tuple(
            one_by_one[n] if n in ranged else whole[n].result() for n in range(len(files))
        ) + tuple(check.result() for check in lindi)
    return VerifyReport(
        manifest=str(manifest_path),
        version=document["manifest_version"],
        deep=deep,
        checks=checks,
        warnings=tuple(w for w in warnings if w),
    )


def _read(bucket: S3Bucket, item: PinnedFile) -> FileDigests | None:
    """The digests of the pinned version's content (sha256 only if the manifest records one),
    from one download; None when that version is gone."""
    blake, sha, size = hashlib.blake2b(), hashlib.sha256() if item.sha256 else None, 0

    def consume(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)
        blake.update(chunk)
        if sha is not None:
            sha.update(chunk)

    if not bucket.stream(item.key, item.version_id, consume):
        return None
    return FileDigests(size, blake.hexdigest(), sha.hexdigest() if sha else "")


def _versioning_warning(pool: BucketPool, name: str) -> str:
    try:
        status = pool.get(name).versioning()
    except PublishkitError:
        return ""  # consumers often may not read the bucket's configuration
    if status != "Enabled":
        return f"s3://{name}: versioning is {status or 'not enabled'}; new uploads replace files"
    return ""


def _check_one(
    pool: BucketPool, item: PinnedFile, deep: bool, transfer: TransferSettings
) -> FileCheck:
    bucket = pool.get(item.bucket)
    found = bucket.head(item.key, item.version_id)
    if found is None:
        return FileCheck(
            item.relpath,
            item.version_id,
            "missing",
            f"s3://{item.bucket}/{item.key} has no version {item.version_id}",
        )
    current = bucket.head(item.key)
    warning = ""
    if current is not None and current.version_id != item.version_id:
        warning = f"a newer version {current.version_id} exists; the manifest pins an older one"
    elif current is None and bucket.deleted(item.key):
        warning = "deleted since: its latest version is a delete marker (the pinned one remains)"
    if item.size is not None and found.size != item.size:
        return FileCheck(
            item.relpath,
            item.version_id,
            "size-mismatch",
            f"stored {found.size} bytes, manifest says {item.size}",
            warning,
        )
    retries = 0
    if deep:
        if transfer.ranged(item.size):
            from publishkit.s3.ranged import VersionGone

            reader = pool.ranged(item, found.size)
            try:
                content: FileDigests | None = digest_in_ranges(reader, transfer)
            except VersionGone:
                content = None
            retries = reader.retries
        else:
            content = _read(bucket, item)
        if content is None:
            return FileCheck(item.relpath, item.version_id, "missing", "vanished during download")
        wrong = item.mismatch(content)
        if wrong is not None:
            status: Status = "size-mismatch" if wrong.digest == "size" else "hash-mismatch"
            return FileCheck(item.relpath, item.version_id, status, str(wrong), warning, retries)
    return FileCheck(item.relpath, item.version_id, "ok", "", warning, retries)
