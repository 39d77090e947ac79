"""The bucket's clients: botocore's S3 model parsed once per process, credentials read afresh;
its requests: "none" where the store has none, any other failure in one line naming the key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.loaders import JSONFileLoader

from publishkit.errors import StorageError, StoreUnavailable
from publishkit.s3.bucket import ConditionFailed, S3Bucket, make_client, session
from publishkit.sandbox.s3 import SandboxInfo


def test_clients_share_one_parse_of_the_s3_model(
    aws_env: dict[str, str], bucket: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release makes three clients or more (the bucket's, and the upload's own pools): each
    parsing botocore's S3 model again cost ~0.2 s. The JSON is read at most once in a process;
    each client still works, and each session reads the credentials of its moment."""
    read: list[str] = []
    real = JSONFileLoader.load_file

    def spy(self: Any, file_path: str) -> Any:  # counts the files read; reads them for real
        read.append(file_path)
        return real(self, file_path)

    monkeypatch.setattr(JSONFileLoader, "load_file", spy)
    client = make_client("us-west-2", aws_env["AWS_ENDPOINT_URL"])
    store = S3Bucket(client, bucket.bucket, endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    tuned = [store.tuned(connections=4, attempts=1), store.tuned(connections=8, attempts=3)]
    for each in (store, *tuned):
        assert each.versioning() == "Enabled"
    models = [path for path in read if path.endswith("service-2")]
    assert len(models) <= 1, models  # 0 when an earlier test in this process read it
    assert session().get_credentials().access_key == "sandbox"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another")
    assert session().get_credentials().access_key == "another"


from publishkit.errors import StorageError, StoreUnavailable
from publishkit.s3.bucket import ConditionFailed, S3Bucket, make_client, session
