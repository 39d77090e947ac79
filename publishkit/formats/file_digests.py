"""A file's content as a manifest records it and the object store checks it: FileDigests, and
the Hasher protocol (what a hashlib object offers) that computes them. Both the workspace and
the object store use these, so they live with the documents, not with either."""

from __future__ import annotations

from typing import Protocol

import msgspec


class Hasher(Protocol):
    """What a hashlib object offers: update, digest, hexdigest."""

    def update(self, data: bytes | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


class FileDigests(msgspec.Struct, frozen=True):
    """What a manifest and the object store need to know about a file's content."""

    size: int
    blake2b: str  # the manifest's file_hash (AllenSDK: hashlib.blake2b, default settings)
    sha256: str
