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
