"""What fetch remembers in the folder it fetches into: the files it placed, and the ranges of
large files it has written so far (the journal a killed fetch resumes from)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from publishkit.workspace.state.store import StateStore


class Placed(msgspec.Struct, frozen=True):
    """The content fetch placed at a path."""

    size: int
    blake2b: str
    sha256: str


class PlacedFiles:
    """fetch_placed and fetch_intents: each file fetch placed (downloaded or linked) and the
    content it placed, and the contents a fetch is about to place."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def of(self, path: Path) -> Placed | None:
        """What fetch placed at `path`, or None if it placed nothing there."""
        rows = self._store.query(
            "SELECT size, blake2b, sha256 FROM fetch_placed WHERE path = ?", (str(path),)
        )
        if not rows:
            return None
        size, blake2b, sha256 = rows[0]
        return Placed(int(str(size)), str(blake2b), str(sha256))

    def intended(self, path: Path, found: Placed) -> bool:
        """A fetch meant to place `found` at `path` (it may have been killed before recording
        that it did): every digest the intent records is `found`'s."""
        rows = self._store.query(
            "SELECT size, sha256 FROM fetch_intents WHERE path = ? AND blake2b = ?",
            (str(path), found.blake2b),
        )
        return any(
            size in (None, found.size) and sha256 in (None, found.sha256) for size, sha256 in rows
        )

    def intended_paths(self) -> list[Path]:
        """Every path a fetch meant to place something at and has not recorded as placed (a
        fetch killed before it did, or one under way)."""
        return [
            Path(str(row[0]))
            for row in self._store.query("SELECT DISTINCT path FROM fetch_intents", ())
        ]

    def intend(self, intents: list[Intent]) -> None:
        """Record, durably and in one transaction, the contents a fetch is about to place:
        before the first of them is renamed into place."""
        with self._store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO fetch_intents VALUES (?, ?, ?, ?)",
                [(str(i.path), i.blake2b, i.size, i.sha256) for i in intents],
            )

    def keep(self, path: Path, placed: Placed) -> None:
        """Record that fetch placed this content at `path` (no longer only intended)."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO fetch_placed VALUES (?, ?, ?, ?)",
                (str(path), placed.size, placed.blake2b, placed.sha256),
            )
            conn.execute(
                "DELETE FROM fetch_intents WHERE path = ? AND blake2b = ?",
                (str(path), placed.blake2b),
            )


class Intent(msgspec.Struct, frozen=True):
    """A content a fetch is about to place at a path, as its manifest pins it."""

    path: Path
    blake2b: str
    size: int | None
    sha256: str | None


class Written(msgspec.Struct, frozen=True):
    """A range [start, end) of a partial file, written and checked, and its bytes' sha256."""

    start: int
    end: int
    sha256: str


class PartialDownloads:
    """fetch_partials and fetch_ranges: the journal of each large file's partial download."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def resume(self, partial: Path, obj: str) -> list[Written]:
        """The ranges written to `partial` for the object `obj` (its bucket, key, version, size
        and digest, in one string); none, and the journal started afresh, if `partial` was of
        another object or not journaled."""
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT object FROM fetch_partials WHERE path = ?", (str(partial),)
            ).fetchone()
            if row is not None and row[0] == obj:
                rows = conn.execute(
                    "SELECT start, end, sha256 FROM fetch_ranges WHERE path = ? ORDER BY start",
                    (str(partial),),
                ).fetchall()
                return [Written(int(a), int(b), str(c)) for a, b, c in rows]
            conn.execute("DELETE FROM fetch_ranges WHERE path = ?", (str(partial),))
            conn.execute("INSERT OR REPLACE INTO fetch_partials VALUES (?, ?)", (str(partial), obj))
        return []

    def written(self, partial: Path, done: Written) -> None:
        """Record a range written to `partial` (after its bytes are in the file); not synced:
        a record lost with the machine's power only means that piece is read again."""
        with self._store.transaction(durable=False) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO fetch_ranges VALUES (?, ?, ?, ?)",
                (str(partial), done.start, done.end, done.sha256),
            )

    def forget_range(self, partial: Path, start: int) -> None:
        """Drop one range whose bytes no longer match (it is read again)."""
        with self._store.transaction() as conn:
            conn.execute(
                "DELETE FROM fetch_ranges WHERE path = ? AND start = ?", (str(partial), start)
            )

    def forget(self, partial: Path) -> None:
        """Drop the journal of `partial`: it was completed, or failed its check and removed."""
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM fetch_ranges WHERE path = ?", (str(partial),))
            conn.execute("DELETE FROM fetch_partials WHERE path = ?", (str(partial),))
