"""One read, every digest; cached by (path, size, mtime_ns, inode)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from publishkit.workspace.digests import DigestCache, digest_file
from publishkit.workspace.state import StateStore


def test_digests_equal_hashlib_across_chunk_boundaries(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 + 17)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    for chunk in (1, 1000, 1024, 1 << 20):
        found = digest_file(path, chunk_size=chunk)
        assert found.blake2b == hashlib.blake2b(data).hexdigest()
        assert found.sha256 == hashlib.sha256(data).hexdigest()
        assert found.size == len(data)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert digest_file(path).blake2b == hashlib.blake2b(b"").hexdigest()


def test_unchanged_stat_is_not_re_read(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"A" * 100)
    with StateStore.in_dir(tmp_path / ".publishkit") as store:
        first = DigestCache(store).get(path)
    stat = path.stat()
    # Same size, same mtime, same inode, different content: only a re-read would notice.
    with open(path, "r+b") as handle:
        handle.write(b"B" * 100)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with StateStore.in_dir(tmp_path / ".publishkit") as store:
        cached = DigestCache(store).get(path)
        assert cached == first
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
        refreshed = DigestCache(store).get(path)
    assert refreshed.blake2b == hashlib.blake2b(b"B" * 100).hexdigest()
