"""One read, every digest; cached by (path, size, mtime_ns, inode)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
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


def _commits(store: StateStore) -> list[str]:
    """The COMMIT statements the store's connection runs from now on (SQLite's trace hook)."""
    seen: list[str] = []
    store._conn.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


def test_the_digests_of_many_files_are_kept_in_one_commit(tmp_path: Path) -> None:
    """A durable commit costs a sync to disk (~2 ms): 300 files hashed in a second were 300 of
    them. Kept together, every one is on record for the next run."""
    paths = []
    for n in range(40):
        paths.append(tmp_path / f"f{n}.bin")
        paths[-1].write_bytes(os.urandom(100 + n))
    with StateStore.in_dir(tmp_path / "state") as store:
        commits = _commits(store)
        started = time.monotonic()
        found = DigestCache(store).get_all(paths)
        seconds = time.monotonic() - started
        # one commit every 0.5 s at most (one in all, unless a loaded machine took longer), not
        # one a file
        assert 1 <= len(commits) <= 1 + int(seconds / 0.5) and len(commits) < len(paths) / 4
    with StateStore.in_dir(tmp_path / "state") as store:
        cache = DigestCache(store)
        assert all(cache.known(p) == found[p] for p in paths)


def test_batches_write_what_they_hold_when_the_block_fails(tmp_path: Path) -> None:
    """What a loop recorded before it failed (an interrupt, a crash in a later file) is kept;
    a batch older than its period is written at the next record."""
    from publishkit.workspace.state import Batches, FileDigestRecords, FileRecord

    def record(n: int) -> FileRecord:
        return FileRecord(f"/f{n}", n, n, n, f"b{n}", f"s{n}")

    with StateStore.in_dir(tmp_path / "state") as store:
        records = FileDigestRecords(store)
        commits = _commits(store)
        try:
            with Batches(store, seconds=0.0) as batches:
                batches.add(lambda: records.keep(record(1)))  # period 0: written at once
                assert len(commits) == 1 and records.of("/f1") == record(1)
            with Batches(store, seconds=60) as batches:
                batches.add(lambda: records.keep(record(2)))
                batches.add(lambda: records.keep(record(3)))
                assert len(commits) == 1 and records.of("/f2") is None
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
        assert len(commits) == 2
        assert records.of("/f2") == record(2) and records.of("/f3") == record(3)


def test_files_are_read_and_hashed_at_once_not_one_after_the_other(tmp_path: Path) -> None:
    # Two pipes, the second written first, each only once a reader waits on it: read one after
    # the other, the first's reader blocks while the writer waits for a reader of the second,
    # and the writer gives up on it (then ends it empty, so that nothing hangs); read at once,
    # both are hashed.
    first, second = tmp_path / "a.fifo", tmp_path / "b.fifo"
    os.mkfifo(first)
    os.mkfifo(second)
    gave_up: list[Path] = []

    def opened_by_a_reader(path: Path, seconds: float) -> int | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:  # fails until a reader holds the pipe open
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.01)
        return None

    def write() -> None:
        for path, data in ((second, b"second"), (first, b"first")):
            fd = opened_by_a_reader(path, 3)
            if fd is None:
                gave_up.append(path)
                continue
            os.write(fd, data)
            os.close(fd)
        for path in gave_up:
            fd = opened_by_a_reader(path, 10)
            if fd is not None:
                os.close(fd)

    writer = threading.Thread(target=write)
    writer.start()
    with StateStore.in_dir(tmp_path / ".publishkit") as store:
        found = DigestCache(store).get_all([first, second])
    writer.join()
    assert gave_up == []
    assert found[first].blake2b == hashlib.blake2b(b"first").hexdigest()
    assert found[second].blake2b == hashlib.blake2b(b"second").hexdigest()


def test_the_records_of_many_files_are_read_in_one_query(tmp_path: Path) -> None:
    """An unchanged release of 300 files asked SQLite 300 times (and resolved every part of
    every path); now one query reads them all, and each file is still checked against its own
    record: a changed one is read again, a symlink's record is its target's."""
    (tmp_path / "data").mkdir()
    paths = []
    for n in range(40):
        paths.append(tmp_path / "data" / f"f{n}.bin")
        paths[-1].write_bytes(os.urandom(100 + n))
    (tmp_path / "link").symlink_to(tmp_path / "data")
    (tmp_path / "data" / "alias.bin").symlink_to(paths[0])
    with StateStore.in_dir(tmp_path / "state") as store:
        first = DigestCache(store).get_all(paths)
    paths[3].write_bytes(b"changed")
    through = [tmp_path / "link" / "f5.bin", tmp_path / "data" / "alias.bin"]
    with StateStore.in_dir(tmp_path / "state") as store:
        selects: list[str] = []
        store._conn.set_trace_callback(
            lambda sql: selects.append(sql) if sql.startswith("SELECT") else None
        )
        found = DigestCache(store).get_all([*paths, *through])
        assert len(selects) == 1  # the records of all 42 paths
    assert found[paths[3]].blake2b == hashlib.blake2b(b"changed").hexdigest()
    assert all(found[p] == first[p] for n, p in enumerate(paths) if n != 3)
    assert found[through[0]] == first[paths[5]]
    assert found[through[1]] == first[paths[0]]
