"""The multipart upload journal's own contract (workspace/state/uploads.py), without S3: what
a run records survives the process that recorded it, per bucket, until the upload ends."""

from __future__ import annotations

from pathlib import Path

from publishkit.workspace.state import OpenUploads, StateStore
from publishkit.workspace.state.uploads import FileIdentity, JournaledPart

FILE = FileIdentity(size=12 * 2**20, mtime_ns=1, inode=7, blake2b="b" * 128)


def test_an_upload_is_journaled_step_by_step_and_read_back_by_the_next_run(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite"
    with StateStore(path) as store:
        journal = OpenUploads(store)
        before = journal.begin("bucket", "big.bin")  # recorded before S3 knows of it
        token = journal.begin("bucket", "data/other.bin")
        journal.started(token, "upload-1", FILE, part_size=5 * 2**20)
        journal.part_done(token, 2, JournaledPart(5 * 2**20, "c2hhMg==", '"etag2"'))
        journal.part_done(token, 1, JournaledPart(5 * 2**20, "c2hhMQ==", '"etag1"'))
        journal.part_done(token, 1, JournaledPart(5 * 2**20, "c2hhMQ==", '"etag1b"'))  # resent
        journal.begin("another-bucket", "big.bin")

    with StateStore(path) as store:  # the next run, in another process's place
        journal = OpenUploads(store)
        recorded = {u.token: u for u in journal.recorded("bucket")}
        assert set(recorded) == {before, token}
        assert recorded[before].upload_id is None and recorded[before].identity is None
        resumed = recorded[token]
        assert (resumed.key, resumed.upload_id, resumed.identity) == (
            "data/other.bin",
            "upload-1",
            FILE,
        )
        assert resumed.part_size == 5 * 2**20
        assert journal.parts(token) == {
            1: JournaledPart(5 * 2**20, "c2hhMQ==", '"etag1b"'),  # the last acknowledgement
            2: JournaledPart(5 * 2**20, "c2hhMg==", '"etag2"'),
        }
        journal.ended(token)
        journal.ended(before)
        assert journal.recorded("bucket") == [] and journal.parts(token) == {}
        assert [u.key for u in journal.recorded("another-bucket")] == ["big.bin"]
