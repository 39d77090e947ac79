"""Uploads that send exactly the bytes a release hashed, or nothing.

A release hashes its files (blake2b for the manifest, sha256 for S3's checksum) before it
uploads them. A file rewritten in between, or while its upload runs, must not end up in the
bucket under the old hash. So every body handed to botocore hashes the bytes as they are read
for sending, and the read that would hand over the last byte first compares them with what was
expected: on a difference it raises, the request never completes, and S3 keeps no version. A
multipart upload checks each part that way against the checksum computed when the part was
first read, feeds those same bytes to whole-file hashers, and is aborted unless the whole file
matches before it is completed. This holds whether or not the server verifies checksums.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator

import msgspec

from publishkit.errors import StorageError
from publishkit.formats.file_digests import Hasher

MAX_PARTS = 10_000
_HASH_READ_SIZE = 1024 * 1024  # a part's checksum is computed in reads of this size


class Content(msgspec.Struct, frozen=True):
    """What a file's bytes were when the release hashed them."""

    size: int
    blake2b: str
    sha256: str

    def b64_sha256(self) -> str:
        """The SHA-256 in base64, as S3's checksum header takes it."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


class ContentChanged(StorageError):
    """A file's bytes differ from those the release hashed, so its upload was stopped."""

    exit_code = 1


def changed(label: str, what: str) -> ContentChanged:
    """The error that stops the upload of a file whose bytes are not the ones hashed."""
    return ContentChanged(
        f"{label} changed while it was being released ({what}); it was not uploaded and no "
        "manifest was written",
        hint="let whatever writes the file finish, then run the release again",
    )


Verify = Callable[[list[Hasher]], None]


class FileRange:
    """`length` bytes of an open file from `start`, as a seekable stream of their own, that
    vouches for what it hands over.

    A pass of reads from the start hashes what it reads (`hashers()` makes fresh ones); the read
    that would hand over the last byte first calls `verify` with them, which raises when they
    are not the bytes expected. A pass that did not start at 0 cannot be vouched for and is
    refused the same way. Positions are relative to `start`: botocore measures the body with
    seek/tell and rewinds it with seek(0) to sign it or retry a request. Reads use pread, so no
    file position is shared, and memory stays flat in the size of the file.
    """

    def __init__(
        self,
        fd: int,
        start: int,
        length: int,
        label: str,
        hashers: Callable[[], list[Hasher]],
        verify: Verify,
    ) -> None:
        self._fd = fd
        self._start = start
        self._length = length
        self._position = 0
        self._label = label
        self._new_hashers = hashers
        self._verify = verify
        self._hashers: list[Hasher] | None = None
        self._hashed_to = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left by default), hashed as they are handed over; the
        read that would hand over the last byte first checks them."""
        remaining = self._length - self._position
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        if wanted <= 0:
            return b""
        if self._position == 0:
            self._hashers, self._hashed_to = self._new_hashers(), 0
        elif self._position != self._hashed_to:
            self._hashers = None  # a pass that skipped bytes: nothing to vouch with
        data = os.pread(self._fd, wanted, self._start + self._position)
        if len(data) < wanted:  # short of the size this upload was started with
            raise changed(self._label, "it shrank")
        for hasher in self._hashers or ():
            hasher.update(data)
        self._position += len(data)
        self._hashed_to = self._position
        if self._position == self._length:
            if self._hashers is None:
                raise changed(self._label, "its bytes could not be checked as they were sent")
            self._verify(self._hashers)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move within the range (botocore rewinds a body to sign or retry it)."""
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        elif whence == os.SEEK_END:
            position = self._length + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def tell(self) -> int:
        """The position within the range."""
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


def whole_file(fd: int, content: Content, label: str) -> FileRange:
    """The body of a single PUT: the whole file, which must hash to `content`."""

    def verify(hashers: list[Hasher]) -> None:
        if hashers[0].hexdigest() != content.sha256:
            raise changed(label, "its hash is not the one recorded for the release")
        if os.fstat(fd).st_size != content.size:
            raise changed(label, "its size changed")

    return FileRange(fd, 0, content.size, label, _whole_hashers, verify)


class Part(msgspec.Struct, frozen=True):
    """One part of a multipart upload, with the checksum of its bytes when they were read."""

    number: int
    start: int
    length: int
    checksum: str  # base64 SHA-256, as S3 takes it


class Parts:
    """A file's parts for a multipart upload. `checksummed()` reads them once, in order, to
    checksum each and feed the whole-file hashers; each part's body (sent from any thread, in
    any order) checks that it is sending those same bytes."""

    def __init__(self, fd: int, content: Content, part_size: int, label: str) -> None:
        self._fd = fd
        self._content = content
        self._label = label
        self.part_size = max(part_size, -(-content.size // MAX_PARTS))
        self._whole = _whole_hashers()

    def ranges(self) -> list[tuple[int, int, int]]:
        """(part number, start, length) of every part, in order."""
        size, step = self._content.size, self.part_size
        return [(n, s, min(step, size - s)) for n, s in enumerate(range(0, size, step), start=1)]

    def checksummed(self) -> Iterator[Part]:
        """Every part, in order, read once: its checksum taken, the whole-file hashers fed."""
        for number, start, length in self.ranges():
            part = hashlib.sha256()
            for offset in range(start, start + length, _HASH_READ_SIZE):
                data = os.pread(self._fd, min(_HASH_READ_SIZE, start + length - offset), offset)
                if not data:
                    raise changed(self._label, "it shrank")
                part.update(data)
                for hasher in self._whole:
                    hasher.update(data)
            yield Part(number, start, length, base64.b64encode(part.digest()).decode())

    def body(self, part: Part) -> FileRange:
        """A part's body: it refuses to hand over bytes other than those checksummed."""
        start, length = part.start, part.length

        def verify(hashers: list[Hasher]) -> None:
            if base64.b64encode(hashers[0].digest()).decode() != part.checksum:
                raise changed(self._label, f"bytes {start}-{start + length - 1} changed")

        return FileRange(self._fd, start, length, self._label, _part_hasher, verify)

    def check_whole(self) -> None:
        """Before completing: the parts sent make up exactly the content the release hashed."""
        if self._whole[0].hexdigest() != self._content.sha256:
            raise changed(self._label, "its hash is not the one recorded for the release")
        if os.fstat(self._fd).st_size != self._content.size:
            raise changed(self._label, "its size changed")


def multipart_etag(part_etags: list[str]) -> str:
    """The ETag S3 gives an object completed from parts with these ETags."""
    joined = b"".join(bytes.fromhex(etag.strip('"')) for etag in part_etags)
    return f'"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(part_etags)}"'


def _whole_hashers() -> list[Hasher]:
    # SHA-256 alone: bytes with the SHA-256 recorded are the bytes hashed, so their blake2b is
    # the one recorded too; a second hash of every byte sent would only cost time
    return [hashlib.sha256()]


def _part_hasher() -> list[Hasher]:
    return [hashlib.sha256()]
