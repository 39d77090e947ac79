"""The journal of the multipart uploads to S3 that this workspace's runs have open.

Each upload is recorded before it exists (`begin`), then with its id, the file it sends and its
part size (`started`), then part by part as S3 acknowledges them (`part_done`), and forgotten
once completed or aborted (`ended`). With the workspace's run lock held, every upload on record
is a dead run's: the next run resumes it when the file is still the one it was sending, and
aborts it otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from publishkit.workspace.state.store import StateStore


class FileIdentity(msgspec.Struct, frozen=True):
    """The file an upload sends, as it was when the upload started."""

    size: int
    mtime_ns: int
    inode: int
    blake2b: str


class JournaledPart(msgspec.Struct, frozen=True):
    """A part S3 acknowledged: its size, base64 SHA-256 and ETag."""

    size: int
    sha256: str
    etag: str


class OpenUpload(msgspec.Struct, frozen=True):
    """A multipart upload a run recorded as open: its id once S3 gave it one, and the file and
    part size it was started with (None for an upload recorded before this journal kept them)."""

    token: int
    bucket: str
    key: str
    upload_id: str | None
    started: datetime
    identity: FileIdentity | None = None
    part_size: int | None = None


class OpenUploads:
    """open_uploads, open_upload_files and open_upload_parts (an `s3.transfer.MultipartLog`)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def begin(self, bucket: str, key: str) -> int:
        """Record that an upload of `key` is about to start; a token for the calls that follow."""
        with self._store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO open_uploads (bucket, key, upload_id, started) VALUES (?, ?, NULL, ?)",
                (bucket, key, datetime.now(UTC).isoformat()),
            )
            return int(cursor.lastrowid or 0)

    def started(
        self, token: int, upload_id: str, identity: FileIdentity | None = None, part_size: int = 0
    ) -> None:
        """Record the upload's id, once S3 has given it, with the file it sends."""
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE open_uploads SET upload_id = ? WHERE token = ?", (upload_id, token)
            )
            if identity is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO open_upload_files VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        token,
                        identity.size,
                        identity.mtime_ns,
                        identity.inode,
                        identity.blake2b,
                        part_size,
                    ),
                )

    def part_done(self, token: int, number: int, part: JournaledPart) -> None:
        """Record a part S3 acknowledged."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO open_upload_parts VALUES (?, ?, ?, ?, ?)",
                (token, number, part.size, part.sha256, part.etag),
            )

    def ended(self, token: int) -> None:
        """Forget the upload: it was completed or aborted."""
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM open_uploads WHERE token = ?", (token,))
            conn.execute("DELETE FROM open_upload_files WHERE token = ?", (token,))
            conn.execute("DELETE FROM open_upload_parts WHERE token = ?", (token,))

    def recorded(self, bucket: str) -> list[OpenUpload]:
        """Every upload on record for `bucket` (with the run lock held: all of them dead runs')."""
        rows = self._store.query(
            "SELECT u.token, u.key, u.upload_id, u.started, f.size, f.mtime_ns, f.inode, "
            "f.blake2b, f.part_size FROM open_uploads u "
            "LEFT JOIN open_upload_files f ON f.token = u.token WHERE u.bucket = ?",
            (bucket,),
        )
        return [
            OpenUpload(
                int(str(token)),
                bucket,
                str(key),
                None if upload_id is None else str(upload_id),
                datetime.fromisoformat(str(started)),
                None
                if size is None
                else FileIdentity(int(str(size)), int(str(mtime)), int(str(inode)), str(b2)),
                None if part_size is None else int(str(part_size)),
            )
            for token, key, upload_id, started, size, mtime, inode, b2, part_size in rows
        ]

    def parts(self, token: int) -> dict[int, JournaledPart]:
        """The parts S3 acknowledged for this upload, by number."""
        rows = self._store.query(
            "SELECT number, size, sha256, etag FROM open_upload_parts WHERE token = ?", (token,)
        )
        return {
            int(str(n)): JournaledPart(int(str(size)), str(sha), str(etag))
            for n, size, sha, etag in rows
        }
