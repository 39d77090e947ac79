"""Publishing LINDI indexes: an index a dead run put is adopted, not put a second time."""

from __future__ import annotations

from publishkit.release.lindi_indexes import _put
from publishkit.s3.bucket import S3Bucket
from publishkit.sandbox.s3 import SandboxInfo
from tests.conftest import REGION


def test_an_index_put_again_gets_no_second_version(
    bucket: SandboxInfo, aws_env: dict[str, str], s3_client
) -> None:
    store = S3Bucket.connect(bucket.bucket, REGION, aws_env["AWS_ENDPOINT_URL"], write=True)
    key = "demo/lindi/data/a.nwb.lindi.json"

    first = _put(store, key, b'{"refs":{}}')
    again = _put(store, key, b'{"refs":{}}')  # the re-run of a run that died after its PUT
    changed = _put(store, key, b'{"refs":{"a":"b"}}')

    assert first == again != changed
    listed = s3_client.list_object_versions(Bucket=bucket.bucket, Prefix=key)["Versions"]
    assert len(listed) == 2


def test_only_hdf5_files_from_the_workspaces_size_get_an_index(tmp_path) -> None:
    """`lindi_index_min_mb` (16 by default): an index costs ~0.1 s a file to build, and what it
    saves a reader matters for large files; 0 indexes every HDF5 file, None none."""
    from publishkit.release.lindi_indexes import indexed
    from publishkit.workspace.config import LINDI_INDEX_MIN_MB

    small = tmp_path / "small.nwb"
    small.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 1000)
    large = tmp_path / "large.nwb"
    with large.open("wb") as handle:
        handle.write(b"\x89HDF\r\n\x1a\n")
        handle.truncate(int(LINDI_INDEX_MIN_MB * 2**20))
    zarr = tmp_path / "not-hdf5.nwb"
    with zarr.open("wb") as handle:
        handle.write(b'{"zarr_format": 2}')
        handle.truncate(int(LINDI_INDEX_MIN_MB * 2**20))
    assert [indexed(p, LINDI_INDEX_MIN_MB) for p in (small, large, zarr)] == [False, True, False]
    assert [indexed(p, 0) for p in (small, large, zarr)] == [True, True, False]
    assert [indexed(p, None) for p in (small, large, zarr)] == [False, False, False]
