"""The bucket's clients: botocore's S3 model parsed once per process, credentials read afresh;
its requests: "none" where the store has none, any other failure in one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.loaders import JSONFileLoader

from publishkit.errors import StorageError, StoreUnavailable
from publishkit.s3.bucket import ConditionFailed, S3Bucket, make_client, session
from publishkit.sandbox.s3 import SandboxInfo

# In a fresh interpreter: the first client of a process, the folders it lists to find the model.
LISTED = """
import os, sys
listed = []
_listdir = os.listdir
def listdir(path="."):
    listed.append(path)
    return _listdir(path)
os.listdir = listdir
from publishkit.s3.bucket import S3Bucket, make_client
client = make_client("us-west-2", sys.argv[1])
store = S3Bucket(client, sys.argv[2], endpoint_url=sys.argv[1])
assert store.versioning() == "Enabled"
print(len([path for path in listed if "botocore" in str(path)]))
"""


def test_a_client_is_made_without_listing_every_service_botocore_knows(
    aws_env: dict[str, str], bucket: SandboxInfo
) -> None:
    """botocore lists each of its ~455 service folders (twice: for the API model and the
    endpoint rules) to learn that S3 exists before it loads S3's model: ~18 ms of every
    release's start. The process's loader knows it is asked for S3 only."""
    done = subprocess.run(
        [sys.executable, "-c", LISTED, aws_env["AWS_ENDPOINT_URL"], bucket.bucket],
        capture_output=True,
        text=True,
        env={**os.environ, **aws_env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) <= 4  # S3's folder, for each kind of model (botocore: 900+)


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


def _store(aws_env: dict[str, str], name: str) -> S3Bucket:
    client = make_client("us-west-2", aws_env["AWS_ENDPOINT_URL"])
    return S3Bucket(client, name, endpoint_url=aws_env["AWS_ENDPOINT_URL"])


def test_each_request_says_none_where_the_store_has_none(
    aws_env: dict[str, str], bucket: SandboxInfo, s3_client: Any
) -> None:
    """The codes that mean "there is none" (S3Bucket._ask's `absent`), request by request."""
    store = _store(aws_env, bucket.bucket)
    assert store.head("nothing") is None
    assert store.head("nothing", "not-a-version-id") is None  # S3's 400 for a malformed id
    assert store.get_bytes("nothing") is None
    assert store.stream("nothing", "not-a-version-id", lambda chunk: None) is False
    assert store.abort_upload("nothing", "no-such-upload") is False
    assert store.list_keys("none/") == [] and store.open_uploads("nothing") == []

    first = store.put_bytes("a/b.txt", b"one", content_type="text/plain", create_only=True)
    assert store.put_bytes("a/b.txt", b"one", content_type="text/plain", create_only=True) == (
        first  # a retry whose answer was lost finds its own object
    )
    with pytest.raises(ConditionFailed, match=r"s3://.*/a/b.txt already exists"):
        store.put_bytes("a/b.txt", b"two", content_type="text/plain", create_only=True)
    assert store.get_bytes("a/b.txt", first) == b"one" and store.list_keys("a/") == ["a/b.txt"]
    head = store.head("a/b.txt")
    assert head is not None and (head.version_id, head.size) == (first, 3)
    chunks: list[bytes] = []
    assert store.stream("a/b.txt", first, chunks.append) and chunks == [b"one"]

    upload = s3_client.create_multipart_upload(Bucket=bucket.bucket, Key="a/big")["UploadId"]
    s3_client.create_multipart_upload(Bucket=bucket.bucket, Key="a/bigger")
    assert store.open_uploads("a/big") == [upload]  # exactly the key, not its prefix's
    assert store.abort_upload("a/big", upload) is True
    assert store.open_uploads("a/big") == []


def test_every_request_fails_in_one_line_naming_what_it_asked(aws_env: dict[str, str]) -> None:
    """A store that is down (nothing listens on the port): StoreUnavailable, naming the bucket
    and key, for every request (_ask maps BotoCoreError and ClientError alike)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on, once this socket closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client("us-west-2", f"http://127.0.0.1:{port}")
    store = S3Bucket(client, "down", endpoint_url=f"http://127.0.0.1:{port}").tuned(
        connections=1, attempts=1
    )
    requests: list[tuple[str, Callable[[], object]]] = [
        ("s3://down/k", lambda: store.head("k")),
        ("s3://down/k", lambda: store.get_bytes("k")),
        ("s3://down/k", lambda: store.abort_upload("k", "u")),
        ("s3://down/k", lambda: store.open_uploads("k")),
        ("s3://down/p/", lambda: store.list_keys("p/")),
        (
            "s3://down/k",
            lambda: store.put_bytes("k", b"x", content_type="text/plain", create_only=False),
        ),
    ]
    for where, request in requests:
        with pytest.raises(StoreUnavailable) as failed:
            request()
        assert failed.value.message.startswith(f"{where}: "), failed.value.message
        assert "\n" not in failed.value.message


def test_the_bucket_checks_are_one_request_each_and_name_a_missing_bucket(
    aws_env: dict[str, str], bucket: SandboxInfo
) -> None:
    """GetBucketVersioning alone says what HeadBucket said before it (no bucket, no access),
    so a release's preflight sends one request for it, not two."""
    client = make_client("us-west-2", aws_env["AWS_ENDPOINT_URL"])
    sent: list[str] = []
    client.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    store = S3Bucket(client, bucket.bucket, endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    assert store.versioning() == "Enabled"
    assert len(sent) == 1 and sent[0].endswith("?versioning"), sent
    missing = S3Bucket(client, "no-such-bucket", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    with pytest.raises(StorageError, match=r"^s3://no-such-bucket: the bucket does not exist$"):
        missing.versioning()
