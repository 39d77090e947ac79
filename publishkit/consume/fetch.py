"""The consumer side: download a release at its pinned versions, checked before use.

Files land where AllenSDK's cache puts them, `<DIR>/<project>-<version>/<path>`, so a release
fetched here is also an AllenSDK cache. A file whose content was fetched before, for any manifest,
is hard-linked rather than downloaded again. A file bigger than the transfer's threshold is read
as parallel ranges into a partial that a killed fetch resumes (`ranged_fetch`). A file at a
target that is not this release's content and that fetch did not place there is not replaced
unless asked (`overwrite`).

The LINDI indexes a manifest records are not fetched: every reference in one reads its file from
the bucket, at the pinned version, so beside the local copy it is of no use (and AllenSDK's cache
does not know it); `verify` checks them, `open_release` reads them in place. The report counts
them, to say so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import msgspec

from publishkit.consume.leftovers import fetching
from publishkit.consume.local_copies import AtTarget, LocalFiles
from publishkit.consume.ranged_fetch import fetch_in_ranges
from publishkit.consume.transfer import TransferSettings
from publishkit.errors import DiskFull, ManifestError, PublishkitError, UsageError
from publishkit.formats import manifest
from publishkit.local_files import put_in_place
from publishkit.progress import Progress, no_progress
from publishkit.s3.pinned import BucketPool, PinnedFile, ReadSettings, pinned_files
from publishkit.tally import Tally
from publishkit.workspace.digests import FileDigests
from publishkit.workspace.state import PartialDownloads, StateStore
from publishkit.writable import write_error

Outcome = Literal["downloaded", "linked", "present", "failed"]
THREADS = 4  # local reads (what is at each target)
SMALL_FILES_AT_ONCE = 64  # small files fetched at once, at most: each is round trips, not bytes


class FetchedFile(msgspec.Struct, frozen=True):
    """Where one file of a release landed, and how (downloaded, linked, present or failed)."""

    path: str  # where it landed, relative to DIR
    outcome: Outcome
    detail: str = ""
    retries: int = 0  # ranges read again after a transient failure
    resumed: int = 0  # bytes a killed fetch had written, checked and kept


class FetchReport(Tally, msgspec.Struct, frozen=True):
    """How each file of a release came to be in the cache."""

    ITEMS = "files"
    OUTCOMES = ("downloaded", "linked", "present", "failed")

    manifest: str
    root: str  # <DIR>/<project>-<version>
    files: tuple[FetchedFile, ...]
    indexes_not_fetched: int = 0  # LINDI indexes the manifest records (they read the bucket)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "manifest": self.manifest,
            "root": self.root,
            "ok": self.ok,
            "counts": self.counts(),
            "retries": sum(f.retries for f in self.files),
            "lindi_indexes_not_fetched": self.indexes_not_fetched,
            "files": self.items_json(),
        }


def fetch_release(
    *,
    manifest_path: Path,
    dest: Path,
    read: ReadSettings,
    transfer: TransferSettings = TransferSettings(),
    overwrite: bool = False,
    progress: Progress = no_progress,
) -> FetchReport:
    """Download every file of a manifest at its pinned version into DIR/<project>-<version>/, each
    checked against every digest the manifest records before it is kept. A file in the way (not
    this release's content, not placed there by fetch) is refused before any download, unless
    `overwrite`."""
    document = manifest.load(manifest_path)
    files = pinned_files(document, read)
    dest = dest.resolve()
    root = dest / f"{document['project_name']}-{document['manifest_version']}"
    targets = {item: _target(root, item) for item in files}  # every key checked first
    small_at_once = min(SMALL_FILES_AT_ONCE, 8 * transfer.concurrency)
    pool = BucketPool(read, connections=transfer.concurrency + small_at_once, digests_checked=True)
    for name in {item.bucket for item in files}:
        pool.get(name)
    total = sum(item.size or 0 for item in files)
    with (
        _prepare(dest, root) as store,
        fetching(store, dest / ".publishkit"),  # first, the partials a killed fetch left
        LocalFiles(store) as local,
    ):
        with ThreadPoolExecutor(THREADS) as executor:
            found = list(executor.map(lambda item: local.at_target(item, targets[item]), files))
        in_the_way = [
            targets[item] for item, at in zip(files, found, strict=True) if at == "in the way"
        ]
        if in_the_way and not overwrite:
            raise _refusal(in_the_way, dest)
        placing = zip(files, found, strict=True)
        local.intend([(targets[item], item) for item, at in placing if at != "present"])
        local.expect(files)
        journal = PartialDownloads(store)

        def fetch(item: PinnedFile, at: AtTarget) -> FetchedFile:
            target = targets[item]
            shown = target.relative_to(dest).as_posix()
            if at == "present":
                progress("Fetching", item.size or 0, total)
                return FetchedFile(shown, "present")
            try:
                if transfer.ranged(item.size):
                    fetched = _fetch_ranged(
                        pool, local, journal, item, target, shown, transfer, progress, total
                    )
                else:
                    outcome = _fetch_one(pool, local, item, target, progress, total)
                    fetched = FetchedFile(shown, outcome)
            except (PublishkitError, OSError) as exc:
                return FetchedFile(shown, "failed", str(exc))
            if fetched.outcome in ("downloaded", "linked"):
                progress("Fetching", 0, total, done=shown)
            return fetched

        with ThreadPoolExecutor(small_at_once) as executor:  # small files, while the large go
            small = {
                n: executor.submit(fetch, item, at)
                for n, (item, at) in enumerate(zip(files, found, strict=True))
                if not transfer.ranged(item.size)
            }
            large = {  # one at a time, each on its own pool of ranges: memory stays bounded
                n: fetch(item, at)
                for n, (item, at) in enumerate(zip(files, found, strict=True))
                if transfer.ranged(item.size)
            }
            results = tuple(
                large[n] if n in large else small[n].result() for n in range(len(files))
            )
    indexes = sum("lindi_index" in entry for entry in document["data_files"].values())
    return FetchReport(str(manifest_path), str(root), results, indexes)


def _refusal(in_the_way: list[Path], dest: Path) -> UsageError:
    first = in_the_way[0].relative_to(dest).as_posix()
    others = f" and {len(in_the_way) - 1} other file(s)" if len(in_the_way) > 1 else ""
    return UsageError(
        f"{dest / first}{others}: not this release's content, and not placed there by fetch; "
        "nothing was fetched",
        hint="move the file(s) away, or pass --overwrite to replace them",
    )


def _fetch_ranged(
    pool: BucketPool,
    local: LocalFiles,
    journal: PartialDownloads,
    item: PinnedFile,
    target: Path,
    shown: str,
    transfer: TransferSettings,
    progress: Progress,
    total: int,
) -> FetchedFile:
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target) and item.mismatch(local.digests(target)) is None:
        return FetchedFile(shown, "present")  # listed twice: placed a moment ago
    if _linked(local, item, target):
        progress("Fetching", item.size or 0, total)
        return FetchedFile(shown, "linked")
    reader = pool.ranged(item, item.size or 0)
    done = fetch_in_ranges(
        reader=reader,
        item=item,
        target=target,
        journal=journal,
        settings=transfer,
        progress=progress,
        total=total,
    )
    if done is None:  # another fetch into this folder placed it meanwhile
        wrong = item.mismatch(local.digests(target))
        return FetchedFile(shown, "present" if wrong is None else "failed", str(wrong or ""))
    local.placed(target, done.digests)
    return FetchedFile(shown, "downloaded", "", done.retries, done.resumed)


def _prepare(dest: Path, root: Path) -> StateStore:
    """DIR's state store, once DIR and the release folder in it exist and take new files."""
    if dest.exists() and not dest.is_dir():
        raise UsageError(
            f"{dest}: is a file, not a folder to fetch into",
            hint="give --to a folder (it is created if missing)",
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".publishkit-probe.")
        os.close(fd)
        os.unlink(probe)
        return StateStore.in_dir(dest / ".publishkit")
    except (OSError, sqlite3.Error) as exc:
        full = write_error(exc, dest / ".publishkit", "fetch's state database")
        if isinstance(full, DiskFull):  # no chmod helps there
            raise full from None
        where = getattr(exc, "filename", None) or dest
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(
            f"{where}: cannot write the fetched files there ({reason})",
            hint="give --to a folder you can write to, or make it writable "
            "(chmod u+w; chattr -i if it is immutable)",
        ) from None


def _target(root: Path, item: PinnedFile) -> Path:
    rel = PurePosixPath(item.relpath)
    target = (root / rel).resolve()
    if rel.is_absolute() or ".." in rel.parts or not target.is_relative_to(root.resolve()):
        raise ManifestError(
            f"{item.group}/{item.name}: path {item.relpath!r} would land outside {root}; "
            "nothing was downloaded",
            hint="the manifest is malformed or hostile; do not use it",
        )
    return target


def _fetch_one(
    pool: BucketPool,
    local: LocalFiles,
    item: PinnedFile,
    target: Path,
    progress: Progress,
    total: int,
) -> Outcome:
    target.parent.mkdir(parents=True, exist_ok=True)
    if _linked(local, item, target):
        progress("Fetching", item.size or 0, total)
        return "linked"
    blake, sha, size = hashlib.blake2b(), hashlib.sha256(), 0
    with (
        put_in_place(target, racing=True, folders=local.folders) as partial,
        partial.open("wb") as handle,
    ):

        def write(chunk: bytes) -> None:
            nonlocal size
            handle.write(chunk)
            size += len(chunk)
            blake.update(chunk)
            sha.update(chunk)
            progress("Fetching", len(chunk), total)

        if not pool.get(item.bucket).stream(item.key, item.version_id, write):
            raise PublishkitError(
                f"s3://{item.bucket}/{item.key}: version {item.version_id} does not exist"
            )
        handle.flush()
        found = FileDigests(size, blake.hexdigest(), sha.hexdigest())
        wrong = item.mismatch(found)
        if wrong is not None:
            raise PublishkitError(
                f"s3://{item.bucket}/{item.key}: downloaded content does not match the manifest: "
                f"{wrong}; the file was not kept"
            )
    local.placed(target, found)
    return "downloaded"


def _linked(local: LocalFiles, item: PinnedFile, target: Path) -> bool:
    """Hard-link (or copy) into place a file on record with `item`'s content, if there is one."""
    known = local.find(item)
    if known is None or known[0] == target:
        return False
    _link_into_place(known[0], target, local)
    local.remember(known[0], known[1])  # the new hard link moved its ctime, not its content
    local.placed(target, known[1])
    return True


def _link_into_place(source: Path, target: Path, local: LocalFiles) -> None:
    with put_in_place(target, racing=True, folders=local.folders) as partial:
        try:
            os.link(source, partial)
        except OSError:  # another filesystem, or links not supported: copy instead
            shutil.copy2(source, partial)
