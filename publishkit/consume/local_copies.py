"""What fetch knows of the files under DIR: each file's digests while it is unchanged, and the
files fetch placed there, recorded in batches.

A fetch of thousands of small files places each in a fraction of a millisecond of its own work;
three durable records a file (its digests, its ctime, that fetch placed it), one commit each,
would serialise the whole fetch on the state store's syncs. So what a file's placing records is
kept here and committed with the others every `seconds` (and when the fetch ends, however it
ends), after the folders that gained those files are synced (`FolderSyncs`): a record never
names a file whose rename a power loss could still undo. A fetch killed meanwhile loses only
records, which save work when they are there (the next run reads the file again), never a
file's integrity; until then, the records waiting here are consulted as if committed. That a file
is fetch's (to be replaced by a later fetch without --overwrite) is never left to a batch: the
content each file is about to get is committed before the first rename (`intend`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import msgspec

from publishkit.formats.file_digests import FileDigests
from publishkit.local_files import FolderSyncs
from publishkit.s3.pinned import PinnedFile
from publishkit.workspace.digests import DigestCache, digest_file
from publishkit.workspace.state import (
    FetchedFiles,
    FileDigestRecords,
    FileRecord,
    Intent,
    Placed,
    PlacedFiles,
    StateStore,
)

AtTarget = Literal["absent", "present", "placed", "in the way"]


class _Pending(msgspec.Struct, frozen=True):
    """The records of one file, as it was when they were made."""

    path: Path
    digests: FileRecord  # keyed by the resolved path, with the stat it was taken at
    ctime_ns: int
    placed: Placed | None  # set when fetch placed the file (not only read it)


class LocalFiles:
    """The digests of files fetch placed or read under DIR, trusted only while each file's
    ctime has not moved: a write moves it even when the mtime is put back (a cache keyed by
    size, mtime and inode alone is fooled then), so do a chmod and a new hard link, and the file
    is read again. A change that moves no ctime (the disk itself flipping a bit) is not seen:
    only reading every file again would find it."""

    def __init__(self, store: StateStore, *, seconds: float = 0.5) -> None:
        self._store = store
        self._fetched = FetchedFiles(store)
        self._cache = DigestCache(store)
        self._records = FileDigestRecords(store)
        self._placed = PlacedFiles(store)
        self.folders = FolderSyncs()  # the folders of files placed since the last flush
        self._seconds = seconds
        self._lock = threading.Lock()  # guards _pending, _by_content and _since
        self._flushing = threading.Lock()  # one flush at a time, in order
        self._pending: dict[Path, _Pending] = {}
        self._by_content: dict[str, Path] = {}  # each content recorded in this run: a file
        self._before: dict[str, Path] | None = None  # `expect`: files of those found on record
        self._since = time.monotonic()

    def at_target(self, item: PinnedFile, target: Path) -> AtTarget:
        """What is at `target` now: nothing, `item`'s content, what fetch placed there, or a
        file fetch did not place (a user's own, or one changed since fetch placed it)."""
        if not os.path.lexists(target):
            return "absent"
        if target.is_symlink() or not target.is_file():
            return "in the way"
        try:
            found = self.digests(target)
        except OSError:
            return "in the way"
        if item.mismatch(found) is None:
            return "present"
        with self._lock:
            pending = self._pending.get(target)
        placed = pending.placed if pending is not None else self._placed.of(target)
        content = Placed(found.size, found.blake2b, found.sha256)
        if placed == content or self._placed.intended(target, content):
            return "placed"
        return "in the way"

    def intend(self, placing: Sequence[tuple[Path, PinnedFile]]) -> None:
        """Record, durably and at once, the content each of `placing` is about to put at its
        path, before the first of them is renamed into place: a fetch killed after a rename and
        before its batch of records leaves a file still known as fetch's."""
        self._placed.intend(
            [Intent(path, item.file_hash, item.size, item.sha256) for path, item in placing]
        )

    def placed(self, path: Path, digests: FileDigests) -> None:
        """Record that fetch placed this content at `path` (and its digests, as it is now)."""
        self._keep(path, digests, Placed(digests.size, digests.blake2b, digests.sha256))

    def remember(self, path: Path, digests: FileDigests) -> None:
        """Record `path`'s digests (computed while downloading, or just read) as it is now."""
        self._keep(path, digests, None)

    def digests(self, path: Path) -> FileDigests:
        """`path`'s digests: on record if nothing changed the file since, else read now."""
        before = path.stat()
        known = self._pending_digests(path, before)
        if known is None and self._fetched.ctime_ns(path) == before.st_ctime_ns:
            known = self._cache.known(path)
        if known is not None:
            return known
        found = digest_file(path)
        now = path.stat()
        if _unchanged(before, now):
            self.remember(path, found)
        return found

    def expect(self, items: Sequence[PinnedFile]) -> None:
        """Look up, in one query per 500, the files on record with the contents of `items`:
        `find` of one of them then asks the store nothing (a query waits while a batch of
        records is committed)."""
        found = self._cache.find_all([item.file_hash for item in items])
        with self._lock:
            self._before = {blake2b: path for blake2b, (path, _) in found.items()}

    def find(self, item: PinnedFile) -> tuple[Path, FileDigests] | None:
        """A file on record with the content `item` pins, checked against all its digests."""
        with self._lock:
            path = self._by_content.get(item.file_hash)
            if path is None and self._before is not None:
                path = self._before.get(item.file_hash)
                if path is None:
                    return None
        if path is None:
            known = self._cache.find(item.file_hash)
            if known is None:
                return None
            path = known[0]
        try:
            digests = self.digests(path)
        except OSError:  # gone since it was recorded
            return None
        return None if item.mismatch(digests) else (path, digests)

    def flush(self, *, wait: bool = True) -> None:
        """Sync the folders of the files placed since the last flush, then commit their
        records in one transaction; unless `wait`, only when no other flush is under way."""
        if not self._flushing.acquire(blocking=wait):
            return
        try:
            with self._lock:
                batch = list(self._pending.values())
                self._since = time.monotonic()
            if not batch:
                return
            self.folders.sync()
            with self._store.transaction():  # each table's own transaction joins this one
                for pending in batch:
                    self._records.keep(pending.digests)
                    self._fetched.keep(pending.path, pending.ctime_ns)
                    if pending.placed is not None:
                        self._placed.keep(pending.path, pending.placed)
            with self._lock:  # what was recorded since stays pending
                for pending in batch:
                    if self._pending.get(pending.path) is pending:
                        del self._pending[pending.path]
        finally:
            self._flushing.release()

    def __enter__(self) -> LocalFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def _keep(self, path: Path, digests: FileDigests, placed: Placed | None) -> None:
        stat = path.stat()
        record = FileRecord.at(path, stat, digests)
        with self._lock:
            earlier = self._pending.get(path)
            if placed is None and earlier is not None:
                placed = earlier.placed  # read again since it was placed: still placed
            self._pending[path] = _Pending(path, record, stat.st_ctime_ns, placed)
            self._by_content[digests.blake2b] = path
            due = time.monotonic() - self._since >= self._seconds
        if due:
            self.flush(wait=False)

    def _pending_digests(self, path: Path, now: os.stat_result) -> FileDigests | None:
        with self._lock:
            pending = self._pending.get(path)
        if pending is None or pending.ctime_ns != now.st_ctime_ns:
            return None
        record = pending.digests
        if (record.size, record.mtime_ns, record.inode) != (
            now.st_size,
            now.st_mtime_ns,
            now.st_ino,
        ):
            return None
        return FileDigests(record.size, record.blake2b, record.sha256)


def _unchanged(before: os.stat_result, now: os.stat_result) -> bool:
    keys = ("st_size", "st_mtime_ns", "st_ctime_ns", "st_ino")
    return all(getattr(before, key) == getattr(now, key) for key in keys)
