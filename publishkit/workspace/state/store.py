"""The workspace state store: one SQLite file under `.publishkit/`, safe for concurrent runs."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

STATE_FILE = "state.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    blake2b TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS file_digests_by_blake2b ON file_digests (blake2b);
-- fetch: each file's ctime when fetch last placed or read it; anything that changed the file
-- since (a write, even with its mtime put back) moved it, and the file is read again
CREATE TABLE IF NOT EXISTS fetched (path TEXT PRIMARY KEY, ctime_ns INTEGER NOT NULL);
-- fetch: the files fetch placed (downloaded or linked), with the content it placed; a file at a
-- target that is neither this release's content nor what fetch placed there is not replaced
CREATE TABLE IF NOT EXISTS fetch_placed (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, blake2b TEXT NOT NULL, sha256 TEXT NOT NULL
);
-- fetch: the contents a fetch is about to place, each at its path, as its manifest pins them
-- (size and sha256 when it records them), committed before the first of them is renamed into
-- place: a file found there with one of them is fetch's even if the fetch was killed before it
-- recorded the file in fetch_placed (which drops the intent when it does)
CREATE TABLE IF NOT EXISTS fetch_intents (
    path TEXT NOT NULL, blake2b TEXT NOT NULL, size INTEGER, sha256 TEXT,
    PRIMARY KEY (path, blake2b)
);
-- fetch: a large file's partial download (by the partial's path) and the object it is of; its
-- ranges written and checked, each with the sha256 of its bytes, re-checked before a resume
CREATE TABLE IF NOT EXISTS fetch_partials (
    path TEXT PRIMARY KEY, object TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fetch_ranges (
    path TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (path, start)
);
-- convert: the output written for a row, and the key of what it was made from
CREATE TABLE IF NOT EXISTS conversions (
    output TEXT PRIMARY KEY, key TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL
);
-- convert: the notices already given in this workspace (e.g. that a NeuroConv interface runs
-- code from the lab's data), each given once
CREATE TABLE IF NOT EXISTS notices_given (notice TEXT PRIMARY KEY);
-- convert: what a plan needs to know of a NeuroConv interface (its schemas), by the versions of
-- NeuroConv and its readers, so that planning unchanged rows needs no import of NeuroConv
CREATE TABLE IF NOT EXISTS interface_schemas (
    versions TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
    PRIMARY KEY (versions, name)
);
-- inspect: findings by (content, setup), the contents that passed the workspace's gate, and
-- those that passed the checks DANDI applies as DANDI applies them (upload skips its validation)
CREATE TABLE IF NOT EXISTS inspection_results (
    content TEXT NOT NULL, setup TEXT NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (content, setup)
);
CREATE TABLE IF NOT EXISTS inspection_passed (content TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS dandi_checks_passed (content TEXT PRIMARY KEY);
-- inspect, release: each NWB content's summary (base64 of its JSON; NULL when it cannot be read
-- as NWB), by summary version
CREATE TABLE IF NOT EXISTS nwb_summaries (
    content TEXT NOT NULL, version INTEGER NOT NULL, summary TEXT,
    PRIMARY KEY (content, version)
);
-- release: why a content with no summary cannot be read as NWB (its warning), judged once
CREATE TABLE IF NOT EXISTS nwb_unreadable (
    content TEXT NOT NULL, version INTEGER NOT NULL, why TEXT NOT NULL,
    PRIMARY KEY (content, version)
);
-- organize: the DANDI name of a content (under a setup: required fields, dandi version)
CREATE TABLE IF NOT EXISTS dandi_names (
    content TEXT NOT NULL, setup TEXT NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (content, setup)
);
-- organize: source -> dandiset path
CREATE TABLE IF NOT EXISTS organized (
    source TEXT PRIMARY KEY, dandi_path TEXT NOT NULL, blake2b TEXT NOT NULL
);
-- upload to S3: multipart uploads open now; a row left behind is a dead run's, to resume or
-- abort. For each, the file it sends (size, mtime, inode, blake2b) and its part size, and each
-- part S3 acknowledged (its size, base64 SHA-256, ETag): a re-run sends only the rest
CREATE TABLE IF NOT EXISTS open_uploads (
    token INTEGER PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, upload_id TEXT,
    started TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS open_upload_files (
    token INTEGER PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL, blake2b TEXT NOT NULL, part_size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS open_upload_parts (
    token INTEGER NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, etag TEXT NOT NULL, PRIMARY KEY (token, number)
);
-- upload to DANDI: what each dandiset path holds there
CREATE TABLE IF NOT EXISTS dandi_uploads (
    dandi_path TEXT NOT NULL, dandiset TEXT NOT NULL, blake2b TEXT NOT NULL,
    asset_id TEXT NOT NULL, etag TEXT NOT NULL, PRIMARY KEY (dandi_path, dandiset)
);
"""


class StateStore:
    """A thin owner of the SQLite connection; each stage keeps its own tables in `_SCHEMA`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection shared by a run's worker threads, serialised by a lock;
        # other processes are kept out by SQLite's own locking (WAL, busy timeout).
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, state_dir: Path) -> StateStore:
        """The store of a workspace's state folder."""
        return cls(state_dir / STATE_FILE)

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested ones join the outer one. Not
        `durable`: its commit is not synced to disk (it survives the process being killed, not
        the machine losing power), for records that only save work when they are there, such as
        a fetch's journaled ranges, written many times a second."""
        with self._lock:
            if self._conn.in_transaction:  # nested: part of the enclosing transaction
                yield self._conn
                return
            if not durable:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                if not durable and not self._conn.in_transaction:
                    self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("COMMIT")
            if not durable:
                self._conn.execute("PRAGMA synchronous=FULL")

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows of a read (for the table classes of `tables`; stages use those, not SQL)."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Batches:
    """Records written as a loop makes them, in one transaction every `seconds` (and when the
    block ends, however it ends) instead of one each: a durable commit costs a sync to disk
    (~2 ms), a run of 300 files kept three records each. A run killed meanwhile loses at most
    the records of the last `seconds`, which only save work when they are there. No
    transaction is held between writes: other threads and processes write meanwhile."""

    def __init__(self, store: StateStore, seconds: float = 0.5) -> None:
        self._store = store
        self._seconds = seconds
        self._pending: list[Callable[[], None]] = []
        self._since = time.monotonic()

    def add(self, write: Callable[[], None]) -> None:
        """`write` (table calls that record something), made with the next batch."""
        self._pending.append(write)
        if time.monotonic() - self._since >= self._seconds:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        self._since = time.monotonic()
        if pending:
            with self._store.transaction():  # the writes' own transactions join this one
                for write in pending:
                    write()

    def __enter__(self) -> Batches:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
