"""The sandbox S3's CompleteMultipartUpload, assembled on disk a chunk at a time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

CHUNK = 1024 * 1024  # what completing an upload holds of its object at a time


def complete_without_holding_objects() -> None:
    """Patch moto (in this process, once) so that completing a multipart upload streams its
    parts into the object instead of joining them in memory.

    moto's `FakeMultipart.complete` appends every part's body to one bytearray, copies it to
    bytes, and the new key's value setter writes those into a `SpooledTemporaryFile`, in memory
    until it rolls over to disk (a third copy); a full-object checksum joins the parts once
    more. A 10 GiB release was killed at 20 GB after every part was sent. Here `complete` makes
    the same checks (InvalidPart, EntityTooSmall, MalformedXML), ETag (md5 of the parts' md5s,
    "-N") and checksum (the same algorithms and fallbacks, fed in chunks), but copies each part
    from its spool file into the object's own, CHUNK bytes at a time; the new key takes that
    file as its body. Anything else set as a key's value is stored as before.

    Assembling 10 GiB takes longer than botocore's 60 s read timeout, so the client sends the
    Complete again while the first runs; moto ran both, and the first to finish closed the
    parts under the other (a 500) or both stored the object (two versions). One Complete of an
    upload runs at a time here; one that waited for another gets the object it made, which is
    moto's answer to a Complete sent again after it.
    """
    from moto.s3 import models
    from moto.settings import get_s3_default_key_buffer_size

    if getattr(models.FakeMultipart, "_publishkit_streamed", False):
        return
    stock_value: Any = models.FakeKey.value  # the property (the ranged-GET patch's, or moto's)
    stock_finish = models.S3Backend.complete_multipart_upload
    guard, completing = threading.Lock(), dict[str, threading.Lock]()  # per upload id, kept

    def complete_multipart_upload(self: Any, bucket_name: str, upload_id: str, body: Any) -> Any:
        upload = self.get_bucket(bucket_name).multiparts.get(upload_id)
        with guard:
            one_at_a_time = completing.setdefault(upload_id, threading.Lock())
        with one_at_a_time:
            if upload is not None and upload_id not in self.get_bucket(bucket_name).multiparts:
                made = self.get_object(bucket_name, upload.key_name)  # completed meanwhile
                if made is not None and made.multipart and made.multipart.id == upload_id:
                    return made
            return stock_finish(self, bucket_name, upload_id, body)

    def complete(self: Any, body: Iterator[tuple[int, str]]) -> tuple[Any, str, Any]:
        chosen: list[Any] = []
        for number, etag in body:  # moto's checks, in its order
            part = self.parts.get(number)
            if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
                raise models.InvalidPart()
            if chosen and chosen[-1].contentsize < models.S3_UPLOAD_PART_MIN_SIZE:
                raise models.EntityTooSmall()
            chosen.append(part)
        if not chosen:
            raise models.MalformedXML
        algorithm = self.metadata.get("x-amz-checksum-algorithm") or "CRC64NVME"
        kind = self.metadata.get("x-amz-checksum-type") or (
            "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
        )
        whole, of_parts = _Running(algorithm), bytearray()
        # the new key's body, sized as FakeKey sizes its own; the key closes it (dispose)
        buffer = tempfile.SpooledTemporaryFile(get_s3_default_key_buffer_size())  # noqa: SIM115
        for part in chosen:
            running = whole if kind == "FULL_OBJECT" else _Running(algorithm)
            for chunk in _chunks(part):
                buffer.write(chunk)
                running.update(chunk)
            if running is not whole:
                of_parts += running.digest()
        self.completed_part_sizes = [part.size for part in chosen]
        md5s = b"".join(bytes.fromhex(part.etag.replace('"', "")) for part in chosen)
        etag = f"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{len(chosen)}"
        if kind == "FULL_OBJECT":
            checksum = (kind, base64.b64encode(whole.digest()).decode(), 1)
        else:
            of_all = models.compute_checksum(bytes(of_parts), algorithm).decode()
            checksum = (kind, of_all, len(chosen))
        return _Assembled(buffer, sum(part.size for part in chosen)), etag, checksum

    def set_value(self: Any, new_value: Any) -> None:
        if not isinstance(new_value, _Assembled):
            stock_value.fset(self, new_value)
            return
        self._value_buffer.close()
        self._value_buffer, self.contentsize = new_value.buffer, new_value.size

    models.S3Backend.complete_multipart_upload = complete_multipart_upload  # type: ignore[method-assign,assignment]
    models.FakeMultipart.complete = complete  # type: ignore[method-assign]
    models.FakeKey.value = property(stock_value.fget, set_value)  # type: ignore[method-assign,assignment]
    models.FakeMultipart._publishkit_streamed = True  # type: ignore[attr-defined]


class _Assembled:
    """A completed upload's object: its body, already in the file the new key keeps."""

    def __init__(self, buffer: Any, size: int) -> None:
        self.buffer, self.size = buffer, size


def _chunks(part: Any) -> Iterator[bytes]:
    """A part's body, CHUNK bytes at a time, each read under the part's lock."""
    offset = 0
    while True:
        with part.lock:
            part._value_buffer.seek(offset)
            chunk = part._value_buffer.read(CHUNK)
        if not chunk:
            return
        offset += len(chunk)
        yield chunk


class _Running:
    """moto's `compute_checksum(body, algorithm, encode_base64=False)` of a body fed in chunks:
    the same algorithms, and the same fallback to CRC32 when crc32c or awscrt is missing."""

    def __init__(self, algorithm: str) -> None:
        from moto.core.compat import HAS_CRT

        self._hash: Any = None
        self._crc: Callable[[bytes, int], int] = binascii.crc32
        self._value, self._width = 0, 4
        if algorithm == "CRC64NVME" and HAS_CRT:
            from awscrt import checksums

            self._crc, self._width = checksums.crc64nvme, 8
        elif algorithm == "CRC32C":
            try:
                import crc32c

                self._crc = crc32c.crc32c
            except ImportError:  # moto's fallback: CRC32
                pass
        elif algorithm == "SHA1":
            self._hash = hashlib.sha1(usedforsecurity=False)
        elif algorithm not in ("CRC32", "CRC64NVME"):
            self._hash = hashlib.sha256(usedforsecurity=False)

    def update(self, chunk: bytes) -> None:
        if self._hash is not None:
            self._hash.update(chunk)
        else:
            self._value = self._crc(chunk, self._value)

    def digest(self) -> bytes:
        if self._hash is not None:
            return bytes(self._hash.digest())
        return self._value.to_bytes(self._width, "big")
