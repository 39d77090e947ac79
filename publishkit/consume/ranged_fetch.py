"""A large file fetched as parallel ranged GETs of its pinned version, into a partial file that a
later fetch resumes.

The partial is `.NAME.publishkit-partial` beside the target. Each range is written in place
(`os.pwrite`) as it arrives, a piece of CHECKPOINT bytes at a time, each journaled with the
sha256 of its bytes in the fetch folder's state store. A
fetch killed part way, or whose link failed too often, leaves the partial and its journal; the
next one re-checks every journaled range against the partial's bytes and reads only the others
from the bucket. The ranges reach the whole file's hashers in order, read back from the partial
(the page cache, mostly) once every range before them is written, so that no range waits for a
slower one before it. The size, blake2b and sha256 are checked before the partial is renamed to
the target; a failed check, or a permanent refusal (the version gone, another size), removes
the partial and its journal. The target's name never holds part of a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import msgspec

from publishkit.consume.transfer import (
    Part,
    TransferSettings,
    plan_parts,
    write_then_read_in_order,
)
from publishkit.errors import PublishkitError, StorageError
from publishkit.local_files import settle
from publishkit.progress import Progress
from publishkit.s3.pinned import PinnedFile
from publishkit.s3.ranged import GaveUp, RangedReader
from publishkit.workspace.digests import FileDigests
from publishkit.workspace.state import PartialDownloads, Written

CHUNK = 4 * 1024 * 1024  # what the hashers read back at a time
CHECKPOINT = 2 * 1024 * 1024  # a range is written and journaled in pieces this large as it arrives


class RangedFetch(msgspec.Struct, frozen=True):
    """What one ranged fetch did: the content it placed, the bytes it read from the bucket and
    from the partial a killed fetch left, and the retries its ranges needed."""

    digests: FileDigests
    downloaded: int
    resumed: int
    retries: int


def partial_path(target: Path) -> Path:
    """Where the partial download of `target` is kept until it is complete and checked."""
    return target.with_name(f".{target.name}.publishkit-partial")


def fetch_in_ranges(
    *,
    reader: RangedReader,
    item: PinnedFile,
    target: Path,
    journal: PartialDownloads,
    settings: TransferSettings,
    progress: Progress,
    total: int,
) -> RangedFetch | None:
    """Fetch `item` to `target` in ranges, resuming a partial a killed fetch left; None when
    another fetch into the same folder completed it while this one waited for it."""
    partial = partial_path(target)
    fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a second fetch of this file into this folder waits
        try:
            same = os.fstat(fd).st_ino == os.stat(partial).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the other fetch finished it and renamed it to the target
            return None
        return _fetch(fd, reader, item, target, partial, journal, settings, progress, total)
    finally:
        os.close(fd)


def _fetch(
    fd: int,
    reader: RangedReader,
    item: PinnedFile,
    target: Path,
    partial: Path,
    journal: PartialDownloads,
    settings: TransferSettings,
    progress: Progress,
    total: int,
) -> RangedFetch:
    size = reader.size
    identity = json.dumps([item.bucket, item.key, item.version_id, size, item.file_hash])
    journaled = {w.start: w for w in journal.resume(partial, identity)}
    if os.fstat(fd).st_size != size:
        os.ftruncate(fd, size)
    lock = threading.Lock()
    counts = {"downloaded": 0, "resumed": 0}

    def produce(part: Part) -> None:
        start, end = part
        known = journaled.get(start)
        if known is not None and known.end == end:
            data = _pread(fd, start, end)
            if hashlib.sha256(data).hexdigest() == known.sha256:
                _counted(lock, counts, "resumed", len(data))
                progress("Fetching", len(data), total)
                return
            journal.forget_range(partial, start)  # changed since: read it again
        kept = 0  # bytes of this range handed to the writer: a kill loses at most a piece
        pieces: list[Future[None]] = []

        def keep(data: bytearray, got: int, last: bool = False) -> None:
            nonlocal kept
            if got - kept < CHECKPOINT and not (last and got > kept):
                return
            piece = memoryview(data)[kept:got]  # no copy; the socket is read on meanwhile
            pieces.append(writer.submit(write, piece, start + kept))
            _counted(lock, counts, "downloaded", got - kept)
            progress("Fetching", got - kept, total)
            kept = got

        data = reader.read(start, end, keep)
        keep(data, len(data), last=True)
        for piece in pieces:
            piece.result()

    def write(piece: memoryview, at: int) -> None:
        """A piece of a range into the partial, then into the journal."""
        with piece:
            _pwrite(fd, piece, at)
            done = Written(at, at + len(piece), hashlib.sha256(piece).hexdigest())
        journal.written(partial, done)

    blake, sha = hashlib.blake2b(), hashlib.sha256()

    def consume(part: Part) -> None:  # the range, back from the page cache, in order
        for chunk in _chunks(fd, *part):
            blake.update(chunk)
            sha.update(chunk)

    parts = plan_parts(size, settings.part_size, [(w.start, w.end) for w in journaled.values()])
    writer = ThreadPoolExecutor(1, thread_name_prefix="publishkit-journal")
    try:
        try:
            write_then_read_in_order(
                parts,
                produce,
                consume,
                concurrency=settings.concurrency,
                on_abort=reader.stopped.set,
            )
        finally:
            writer.shutdown(wait=True)  # every piece handed over is written and journaled
    except StorageError as exc:
        if not isinstance(exc, GaveUp):  # no later fetch would do better: keep nothing
            journal.forget(partial)
            partial.unlink(missing_ok=True)
        raise
    found = FileDigests(size, blake.hexdigest(), sha.hexdigest())
    wrong = item.mismatch(found)
    if wrong is not None:
        journal.forget(partial)
        partial.unlink(missing_ok=True)
        raise PublishkitError(
            f"s3://{item.bucket}/{item.key}: downloaded content does not match the manifest: "
            f"{wrong}; the file was not kept"
        )
    settle(partial, target)
    journal.forget(partial)
    return RangedFetch(found, counts["downloaded"], counts["resumed"], reader.retries)


def _counted(lock: threading.Lock, counts: dict[str, int], name: str, amount: int) -> None:
    with lock:
        counts[name] += amount


def _pread(fd: int, start: int, end: int) -> bytearray:
    data = bytearray(end - start)
    view, done = memoryview(data), 0
    while done < len(data):
        got = os.preadv(fd, [view[done:]], start + done)
        if got == 0:
            break  # past the end: the range does not match, and is read again
        done += got
    return data


def _chunks(fd: int, start: int, end: int) -> Iterator[bytearray]:
    for offset in range(start, end, CHUNK):
        yield _pread(fd, offset, min(end, offset + CHUNK))


def _pwrite(fd: int, data: bytearray | memoryview, start: int) -> None:
    view, done = memoryview(data), 0
    while done < len(data):
        done += os.pwrite(fd, view[done:], start + done)
