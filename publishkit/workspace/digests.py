"""Every digest a release needs, from one read of each file, cached by the file's stat.

The file is read once, in large chunks; each digest runs in its own thread (hashlib releases the
GIL on large updates), so the throughput is that of the slowest digest, not the sum of them.
"""

from __future__ import annotations

__all__ = ["CHUNK_SIZE", "DigestCache", "FileDigests", "digest_file", "feed_hashers"]

import functools
import hashlib
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from publishkit.errors import WorkspaceError
from publishkit.formats.file_digests import FileDigests, Hasher
from publishkit.progress import Progress, no_progress
from publishkit.workspace.confined import RealPaths
from publishkit.workspace.executors import (
    LOCAL,
    Executor,
    ExecutorSettings,
    SerialExecutor,
    ThreadExecutor,
    WorkerCrashed,
    executor_for,
)
from publishkit.workspace.state import Batches, FileDigestRecords, FileRecord, StateStore

CHUNK_SIZE = 8 * 1024 * 1024
_BUFFERS = 3
HASHING_THREADS = min(4, os.cpu_count() or 1)  # files read and hashed at once


def digest_file(path: Path, chunk_size: int = CHUNK_SIZE) -> FileDigests:
    """blake2b and sha256 of `path` from a single read."""
    if os.stat(path).st_size < chunk_size:  # one chunk: no threads or buffers needed
        data = Path(path).read_bytes()
        return FileDigests(
            len(data), hashlib.blake2b(data).hexdigest(), hashlib.sha256(data).hexdigest()
        )
    hashers: dict[str, Hasher] = {"blake2b": hashlib.blake2b(), "sha256": hashlib.sha256()}
    size = feed_hashers(path, list(hashers.values()), chunk_size)
    return FileDigests(
        size=size, blake2b=hashers["blake2b"].hexdigest(), sha256=hashers["sha256"].hexdigest()
    )


def feed_hashers(path: Path, hashers: list[Hasher], chunk_size: int = CHUNK_SIZE) -> int:
    """Read `path` once and feed every chunk to every hasher, each in its own thread.

    The reader fills a few reusable buffers (no per-chunk allocation) while the hashers work on
    the previous ones; a buffer returns to the reader once every hasher is done with it.
    """
    buffers = [bytearray(chunk_size) for _ in range(_BUFFERS)]
    free: queue.Queue[int] = queue.Queue()
    for index in range(_BUFFERS):
        free.put(index)
    users = [0] * _BUFFERS
    lock = threading.Lock()
    queues: list[queue.Queue[tuple[int, int] | None]] = [queue.Queue() for _ in hashers]
    failures: list[BaseException] = []

    def consume(hasher: Hasher, chunks: queue.Queue[tuple[int, int] | None]) -> None:
        while (item := chunks.get()) is not None:
            index, length = item
            if not failures:
                try:
                    hasher.update(memoryview(buffers[index])[:length])
                except BaseException as exc:  # surfaced in the reading thread below
                    failures.append(exc)
            with lock:
                users[index] -= 1
                if users[index] == 0:
                    free.put(index)

    workers = [
        threading.Thread(target=consume, args=pair, daemon=True)
        for pair in zip(hashers, queues, strict=True)
    ]
    for worker in workers:
        worker.start()
    size = 0
    try:
        with open(path, "rb", buffering=0) as handle:
            while True:
                index = free.get()
                length = handle.readinto(buffers[index])
                if not length:
                    break
                size += length
                users[index] = len(hashers)
                for chunks in queues:
                    chunks.put((index, length))
    finally:
        for chunks in queues:
            chunks.put(None)
        for worker in workers:
            worker.join()
    if failures:
        raise failures[0]
    return size


class DigestCache:
    """Digests keyed by (path, size, mtime_ns, inode): an unchanged file is never re-read."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._records = FileDigestRecords(store)

    def get(self, path: Path) -> FileDigests:
        """`path`'s digests: on record when the file is unchanged since, else read now and
        recorded."""
        known = self.known(path)
        if known is not None:
            return known
        before, digests = _digest_unchanged(path)
        self._keep(path, before, digests)
        return digests

    def known(self, path: Path) -> FileDigests | None:
        """The digests on record for `path`, if it has not changed since; reads no content."""
        stat = path.stat()
        return _unchanged(self._records.of(str(path.resolve())), stat)

    def _known_all(self, paths: Sequence[Path]) -> dict[Path, FileDigests | None]:
        """`known` of every path, in order: their records read in one query, each folder
        resolved once."""
        real_paths = RealPaths()
        stats = {path: path.stat() for path in paths}
        reals = {path: str(real_paths(path)) for path in paths}
        records = self._records.of_all(list(dict.fromkeys(reals.values())))
        return {path: _unchanged(records.get(reals[path]), stats[path]) for path in paths}

    def get_all(
        self,
        paths: Sequence[Path],
        executor: ExecutorSettings = LOCAL,
        progress: Progress = no_progress,
    ) -> dict[Path, FileDigests]:
        """Digests of every path: from the record when unchanged, the others read here or, with
        a Dask executor, on the cluster's workers (and recorded here)."""
        found: dict[Path, FileDigests] = {}
        missing = []
        for path, known in self._known_all(paths).items():
            if known is None:
                missing.append(path)
                continue
            found[path] = known
            progress("Hashing", 1, len(paths))
        with Batches(self._store) as batches:
            for path, (before, digests) in _read_all(missing, executor):
                batches.add(functools.partial(self._keep, path, before, digests))
                found[path] = digests
                progress("Hashing", 1, len(paths))
        return found

    def _keep(self, path: Path, before: tuple[int, int], digests: FileDigests) -> None:
        """Record digests read from `path` unless it changed since (then they are not cacheable)."""
        now = path.stat()
        if before == (now.st_size, now.st_mtime_ns):
            self.record(path, digests)

    def record(self, path: Path, digests: FileDigests) -> None:
        """Remember digests computed elsewhere (e.g. while downloading) for `path` as it is now."""
        self._records.keep(FileRecord.at(path, path.stat(), digests))

    def find(self, blake2b: str) -> tuple[Path, FileDigests] | None:
        """A file on record with this content that is still unchanged on disk."""
        return _first_unchanged(self._records.with_blake2b(blake2b)).get(blake2b)

    def find_all(self, blake2bs: Sequence[str]) -> dict[str, tuple[Path, FileDigests]]:
        """`find` of each content, by blake2b (those with no file left out): one query per 500
        contents, not one each."""
        return _first_unchanged(self._records.with_blake2b_in(list(dict.fromkeys(blake2bs))))


def _first_unchanged(rows: list[FileRecord]) -> dict[str, tuple[Path, FileDigests]]:
    """For each content among `rows`, the first file still unchanged on disk since its row."""
    found: dict[str, tuple[Path, FileDigests]] = {}
    for row in rows:
        if row.blake2b in found:
            continue
        try:
            stat = os.stat(row.path)
        except OSError:
            continue
        if (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (row.size, row.mtime_ns, row.inode):
            found[row.blake2b] = Path(row.path), FileDigests(row.size, row.blake2b, row.sha256)
    return found


def _unchanged(row: FileRecord | None, stat: os.stat_result) -> FileDigests | None:
    """The digests on record when the file is as it was then (size, mtime, inode)."""
    if row and (row.size, row.mtime_ns, row.inode) == (stat.st_size, stat.st_mtime_ns, stat.st_ino):
        return FileDigests(size=stat.st_size, blake2b=row.blake2b, sha256=row.sha256)
    return None


def _read_all(
    paths: list[Path], settings: ExecutorSettings
) -> Iterator[tuple[Path, tuple[tuple[int, int], FileDigests]]]:
    """(path, _digest_unchanged(path)) for each path, on the Dask cluster or here: files under
    a chunk on threads (reading waits on the disk and hashlib releases the GIL, so many small
    files are hashed on every core at once), then the others one by one (each already reads
    and hashes in threads of its own, and a Ctrl-C stops it at its next chunk, where a thread
    pool would finish hashing a file of any size first)."""
    if settings.dask:
        yield from _checked(executor_for(settings, 1, len(paths)), paths)
        return
    small = [path for path in paths if _size(path) < CHUNK_SIZE]
    if len(small) > 1:
        yield from _checked(ThreadExecutor(min(len(small), HASHING_THREADS)), small)
    chosen = set(small) if len(small) > 1 else set()
    yield from _checked(SerialExecutor(), [path for path in paths if path not in chosen])


def _checked(
    executor: Executor, paths: list[Path]
) -> Iterator[tuple[Path, tuple[tuple[int, int], FileDigests]]]:
    for path, outcome in executor.map_unordered(_digest_unchanged, paths):
        if isinstance(outcome, WorkerCrashed):
            raise WorkspaceError(f"{path}: the worker reading it crashed: {outcome}")
        yield path, outcome


def _size(path: Path) -> int:
    """The file's size; a file that cannot be looked at counts as large (read alone, where its
    error is raised as before)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return CHUNK_SIZE


def _digest_unchanged(path: Path) -> tuple[tuple[int, int], FileDigests]:
    """A worker's digest of `path`, with the (size, mtime_ns) it had before being read."""
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns), digest_file(path)
