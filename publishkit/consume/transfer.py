"""Large objects read as parallel ranged GETs of their pinned version, handed over in order.

`read_in_order` keeps at most `concurrency` parts in flight or waiting for their turn, so what a
file holds in memory is bounded by concurrency x part size, whatever its size; the parts reach
`consume` in the file's order, so that a digest that cannot be computed out of order (blake2b)
sees the bytes as they are in the file.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import msgspec

from publishkit.progress import Progress, no_progress
from publishkit.workspace.digests import FileDigests

if TYPE_CHECKING:  # botocore is imported only once a bucket is reached
    from publishkit.s3.ranged import RangedReader

MIB = 1024 * 1024
Part = tuple[int, int]  # [start, end) in the file
T = TypeVar("T")


class TransferSettings(msgspec.Struct, frozen=True):
    """How large files are read: `concurrency` ranges at once, of `part_size` bytes each, for
    every file bigger than `threshold` (smaller ones are read in one GET)."""

    concurrency: int = 10  # boto3 TransferManager's max_concurrency
    part_size: int = 8 * MIB
    threshold: int = 16 * MIB

    def ranged(self, size: int | None) -> bool:
        """Whether a file of `size` bytes is read in ranges."""
        return size is not None and size > self.threshold


def read_in_order(
    parts: Sequence[Part],
    produce: Callable[[Part], T],
    consume: Callable[[Part, T], object],
    *,
    concurrency: int,
    on_abort: Callable[[], object] = lambda: None,
) -> None:
    """`produce` every part on `concurrency` threads and `consume` each, in order, in this
    thread; at most `concurrency` parts are produced or waiting at any time. On a failure the
    parts not started are cancelled and `on_abort` runs (to stop the ones running) before the
    failure is raised."""
    window: deque[tuple[Part, Future[T]]] = deque()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="publishkit-range") as pool:
        try:
            for part in parts:
                while window and (len(window) >= concurrency or window[0][1].done()):
                    done, future = window.popleft()
                    consume(done, future.result())
                window.append((part, pool.submit(produce, part)))
            while window:
                done, future = window.popleft()
                consume(done, future.result())
        except BaseException:
            for _, future in window:
                future.cancel()
            on_abort()
            raise


def write_then_read_in_order(
    parts: Sequence[Part],
    produce: Callable[[Part], None],
    consume: Callable[[Part], object],
    *,
    concurrency: int,
    on_abort: Callable[[], object] = lambda: None,
) -> None:
    """`produce` every part on `concurrency` threads (each puts its part where `consume` reads
    it back, and keeps nothing) and `consume` each, in order, in this thread, once it and every
    part before it are produced: no part waits for a slower one before it to start."""
    with ThreadPoolExecutor(concurrency, thread_name_prefix="publishkit-range") as pool:
        futures = [pool.submit(produce, part) for part in parts]
        try:
            for part, future in zip(parts, futures, strict=True):
                future.result()
                consume(part)
        except BaseException:
            for future in futures:
                future.cancel()
            on_abort()
            raise


def digest_in_ranges(
    reader: RangedReader,
    settings: TransferSettings,
    *,
    progress: Progress = no_progress,
    total: int = 0,
) -> FileDigests:
    """blake2b and sha256 of the pinned version, read as parallel ranges, hashed in order."""
    blake, sha = hashlib.blake2b(), hashlib.sha256()
    size = 0

    def consume(part: Part, data: bytearray) -> None:
        nonlocal size
        blake.update(data)
        sha.update(data)
        size += len(data)
        progress("Reading", len(data), total)

    read_in_order(
        plan_parts(reader.size, settings.part_size, []),
        lambda part: reader.read(*part),
        consume,
        concurrency=settings.concurrency,
        on_abort=reader.stopped.set,
    )
    return FileDigests(size, blake.hexdigest(), sha.hexdigest())


def plan_parts(size: int, part_size: int, done: list[Part]) -> list[Part]:
    """[start, end) ranges covering [0, size) in order: the `done` ones as they are (sorted, not
    overlapping), the gaps between them cut into parts of at most `part_size` bytes."""
    parts: list[Part] = []
    position = 0
    for start, end in [*sorted(done), (size, size)]:
        while position < start:
            parts.append((position, min(start, position + part_size)))
            position = parts[-1][1]
        if end > start:
            parts.append((start, end))
        position = max(position, end)
    return parts
