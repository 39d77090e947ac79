"""Releases through a flaky network: a fault-injecting proxy between publishkit and moto.

The proxy (tests/faultproxy.py) answers a deterministic share of requests with `503 SlowDown` or
resets the connection, before the request reaches moto; botocore retries them. A release must
still succeed, pin versions that exist with the right content, and leave neither duplicate
versions nor dangling multipart uploads. Faults *after* moto applied a non-idempotent request
(the answer is lost, the retry meets the applied state) are tested one at a time.

Everything the test checks in the bucket it reads from moto directly, never through the proxy.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.faultproxy import FaultProxy, Record, Request, every_nth, first_match

pytestmark = pytest.mark.slow

PREFIX = "demo-project"
MIB = 1024 * 1024


def bucket_history(s3_client: Any, bucket: str) -> dict[str, list[bytes]]:
    """Every version of every key, its content downloaded (from moto, not the proxy)."""
    history: dict[str, list[bytes]] = defaultdict(list)
    for page in s3_client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        assert not page.get("DeleteMarkers"), page["DeleteMarkers"]
        for version in page.get("Versions", []):
            body = s3_client.get_object(
                Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
            )["Body"].read()
            history[version["Key"]].append(body)
    return dict(history)


def assert_nothing_lost_or_duplicated(
    s3_client: Any, workspace: Workspace, expected: dict[str, set[bytes]], context: str = ""
) -> None:
    """Each data, metadata and manifest key has one version per distinct content it ever had;
    `expected` names those of the data and metadata keys. No multipart upload is left open.
    (release_notes.md is exempt: it is never pinned, and rewritten by every release.)"""
    history = bucket_history(s3_client, workspace.bucket)
    duplicated = {
        key: f"{len(contents)} versions of {len(set(contents))} distinct content(s)"
        for key, contents in history.items()
        if len(contents) != len(set(contents)) and key != f"{PREFIX}/release_notes.md"
    }
    assert duplicated == {}, context
    for relpath, contents in expected.items():
        assert set(history.get(f"{PREFIX}/{relpath}", [])) == contents, relpath
    uploads = s3_client.list_multipart_uploads(Bucket=workspace.bucket).get("Uploads", [])
    assert uploads == []


def assert_release_intact(cli, s3_client: Any, workspace: Workspace, version: str) -> None:
    """The local manifest is the published one, valid, and pins versions with its hashes."""
    path = workspace.manifest_path(version)
    assert path.is_file(), f"no local manifest {path.name}"
    key = f"{PREFIX}/manifests/{path.name}"
    remote = s3_client.get_object(Bucket=workspace.bucket, Key=key)["Body"].read()
    assert json.loads(remote) == json.loads(path.read_text())
    validated = cli("manifest", "validate", str(path), cwd=workspace.root)
    assert validated.exit_code == 0, validated.stdout + validated.stderr
    document = json.loads(path.read_text())
    for group in ("metadata_files", "data_files"):
        for entry in document[group].values():
            body = s3_client.get_object(
                Bucket=workspace.bucket,
                Key=f"{PREFIX}/{entry['path']}",
                VersionId=entry["version_id"],
            )["Body"].read()
            assert hashlib.blake2b(body).hexdigest() == entry["file_hash"], entry["path"]
            assert len(body) == entry["size"], entry["path"]
    # and publishkit's own check, through the proxy (its faults included)
    verified = cli("verify", str(path), "--deep", cwd=workspace.root)
    assert verified.exit_code == 0, verified.stdout + verified.stderr


def sessions_csv(workspace: Workspace) -> bytes:
    return (workspace.root / "metadata" / "sessions.csv").read_bytes()


def release(cli, workspace: Workspace, *args: str) -> None:
    result = cli("release", *args, cwd=workspace.root)
    assert result.exit_code == 0, result.stdout + result.stderr


def describe(proxy: FaultProxy) -> str:
    return "\n".join(f"{r.number} {r.fault} {r.method} {r.path}" for r in proxy.failed())


def test_many_new_files_are_listed_once_not_asked_for_one_by_one(
    cli, workspace: Workspace, through_proxy, s3_client
) -> None:
    """A release of 40 new files: one listing of the prefix instead of a HEAD per file; the
    second release, with two files changed, asks for their current versions alone."""
    from tests.faultproxy import no_faults

    proxy = through_proxy(no_faults)
    workspace.set_sessions({str(n): f"session {n}".encode() * 100 for n in range(40)})
    release(cli, workspace, "--version", "1.0.0")
    heads = [r for r in proxy.records if r.method == "HEAD" and r.path.count("/") > 1]
    puts = [r for r in proxy.records if r.method == "PUT"]
    # the files, the table, the NWB summaries, the manifest, the notes; the release's page, its
    # record, the site's history and its index
    assert heads == [] and len(puts) == 40 + 4 + 4
    assert len([r for r in proxy.records if _lists_the_prefix(r)]) == 1
    seen = len(proxy.records)
    workspace.set_sessions(
        {str(n): (b"edited" if n in (7, 8) else f"session {n}".encode() * 100) for n in range(40)}
    )
    release(cli, workspace, "--version", "1.1.0")
    later = proxy.records[seen:]
    assert sorted(r.path for r in later if r.method == "HEAD" and r.path.count("/") > 1) == [
        f"/{workspace.bucket}/demo-project/data/s7.nwb",
        f"/{workspace.bucket}/demo-project/data/s8.nwb",
    ]
    assert not [r for r in later if _lists_the_prefix(r)]  # a changed file needs its HEAD anyway
    assert_release_intact(cli, s3_client, workspace, "1.1.0")


def _lists_the_prefix(record: Record) -> bool:
    """A listing of the whole release prefix (not of its manifests)."""
    return "list-type" in record.query and "manifests" not in record.query


# --- faults before the request reaches the bucket: botocore's retries must be enough --------


def test_two_releases_through_slowdowns_and_resets(
    cli, workspace: Workspace, through_proxy, s3_client
) -> None:
    proxy = through_proxy(every_nth(4, ("slowdown", "reset")))
    s101 = (workspace.root / "data" / "s101.nwb").read_bytes()
    s102_old = (workspace.root / "data" / "s102.nwb").read_bytes()

    release(cli, workspace, "--version", "0.1.0")
    workspace.set_sessions({"101": s101, "102": b"edited 102 " * 500})
    release(cli, workspace, "--bump", "minor")

    assert_release_intact(cli, s3_client, workspace, "0.1.0")
    assert_release_intact(cli, s3_client, workspace, "0.2.0")
    counts = proxy.counts
    assert counts["slowdown"] >= 3 and counts["reset"] >= 3, (counts, describe(proxy))
    assert proxy.errors == []
    assert_nothing_lost_or_duplicated(
        s3_client,
        workspace,
        {
            "data/s101.nwb": {s101},
            "data/s102.nwb": {s102_old, b"edited 102 " * 500},
            "project_metadata/sessions.csv": {sessions_csv(workspace)},
        },
    )
    second = json.loads(workspace.manifest_path("0.2.0").read_text())
    first = json.loads(workspace.manifest_path("0.1.0").read_text())
    assert second["data_files"]["101"]["version_id"] == first["data_files"]["101"]["version_id"]


def _is_create_multipart(r: Request) -> bool:
    return r.method == "POST" and r.query == "uploads"


def _is_part(number: int) -> Callable[[Request], bool]:
    return lambda r: r.method == "PUT" and f"partNumber={number}" in r.query


def _is_complete(r: Request) -> bool:
    return r.method == "POST" and "uploadId=" in r.query


def test_multipart_release_through_slowdowns_and_resets(
    cli, workspace: Workspace, through_proxy, s3_client
) -> None:
    workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n")
    big = hashlib.sha256(b"seed").digest() * (11 * MIB // 32)  # 5 + 5 + 1 MiB parts
    bigger = hashlib.sha256(b"seed 2").digest() * (11 * MIB // 32)
    s102 = (workspace.root / "data" / "s102.nwb").read_bytes()
    workspace.set_sessions({"101": big, "102": s102})
    rules = [  # each multipart step fails once for certain, the rest at random
        (_is_create_multipart, "slowdown"),
        (_is_part(2), "reset"),
        (_is_part(3), "slowdown"),
        (_is_complete, "slowdown"),
        (_is_create_multipart, "reset"),
        (_is_part(1), "reset"),
        (_is_complete, "reset"),
    ]
    proxy = through_proxy(first_match(rules, then=every_nth(5, ("reset", "slowdown"))))

    release(cli, workspace, "--version", "0.1.0")
    workspace.set_sessions({"101": bigger, "102": s102})
    release(cli, workspace, "--bump", "minor")

    assert_release_intact(cli, s3_client, workspace, "0.1.0")
    assert_release_intact(cli, s3_client, workspace, "0.2.0")
    failed = [(r.fault, r.method, r.query) for r in proxy.failed()]
    assert ("slowdown", "POST", "uploads") in failed and ("reset", "POST", "uploads") in failed
    assert any(f == "reset" and "partNumber=2" in q for f, _, q in failed), describe(proxy)
    assert any(f == "reset" and q.startswith("uploadId=") for f, m, q in failed if m == "POST")
    counts = proxy.counts
    assert counts["slowdown"] >= 4 and counts["reset"] >= 4, (counts, describe(proxy))
    assert proxy.errors == []
    head = s3_client.head_object(
        Bucket=workspace.bucket, Key=f"{PREFIX}/data/s101.nwb", PartNumber=1
    )
    assert head["PartsCount"] == 3
    assert_nothing_lost_or_duplicated(
        s3_client,
        workspace,
        {"data/s101.nwb": {big, bigger}, "data/s102.nwb": {s102}},
    )


# --- a fault after the bucket applied a request: the answer is lost, the retry sees the result -


def _is_put_of(relpath: str) -> Callable[[Request], bool]:
    return lambda r: r.method == "PUT" and r.key.endswith(f"/{PREFIX}/{relpath}") and not r.query


def _is_manifest_put(r: Request) -> bool:
    return r.method == "PUT" and "/manifests/" in r.key and "if-none-match" in r.headers


LOST_ANSWERS = {
    "data PutObject": _is_put_of("data/s102.nwb"),
    "metadata PutObject": _is_put_of("project_metadata/sessions.csv"),
    "conditional manifest PutObject (If-None-Match)": _is_manifest_put,
    "release notes PutObject": _is_put_of("release_notes.md"),
    "CompleteMultipartUpload": _is_complete,
}


@pytest.mark.parametrize("step", list(LOST_ANSWERS))
def test_a_lost_answer_to_an_applied_request(
    cli, workspace: Workspace, through_proxy, s3_client, step: str
) -> None:
    """The bucket applied the request, the connection reset before its answer; botocore sends
    it again. The release must neither fail nor leave a second copy behind."""
    if step == "CompleteMultipartUpload":
        workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n")
        workspace.set_sessions({"101": b"a" * (6 * MIB), "102": b"session 102 " * 2000})
    proxy = through_proxy(first_match([(LOST_ANSWERS[step], "reset_after")]))

    result = cli("release", "--version", "0.1.0", cwd=workspace.root)

    (lost,) = proxy.failed()
    assert lost.fault == "reset_after" and lost.status in (200, 204), describe(proxy)
    after = [r for r in proxy.records if r.number > lost.number]
    retry = next(
        (r for r in after if (r.method, r.path) == (lost.method, lost.path)), None
    )  # what the bucket told botocore's retry
    assert result.exit_code == 0, (
        f"the retry of {lost.method} {lost.path} got {retry.status if retry else None}; "
        f"publishkit exited {result.exit_code}: {result.stderr.strip()}"
    )
    assert_release_intact(cli, s3_client, workspace, "0.1.0")
    files = {f"data/{p.name}": {p.read_bytes()} for p in (workspace.root / "data").iterdir()}
    assert_nothing_lost_or_duplicated(
        s3_client,
        workspace,
        {**files, "project_metadata/sessions.csv": {sessions_csv(workspace)}},
        f"botocore re-sent {lost.method} {lost.path} after its answer was lost; the retry got "
        f"{retry.status if retry else None} and the bucket kept both writes",
    )


# --- the proxy itself -----------------------------------------------------------------------


def test_proxy_forwards_chunked_bodies_with_trailers_verbatim(tmp_path: Path) -> None:
    """aws-chunked uploads (Transfer-Encoding: chunked, checksum trailers) arrive byte for byte
    with the same headers; moto's werkzeug cannot parse trailers, so a recorder stands in."""
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[dict[str, str], bytes]] = []

    class Recorder(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            raw = b""
            while not raw.endswith(b"\r\n0\r\n" + b"x-amz-checksum-sha256: abc=\r\n\r\n"):
                raw += self.rfile.read(1)
            received.append(({k.lower(): v for k, v in self.headers.items()}, raw))
            self.send_response_only(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=upstream.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    body = (
        b"5;chunk-signature=x\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-sha256: abc=\r\n\r\n"
    )
    headers = {
        "Transfer-Encoding": "chunked",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": "11",
        "X-Amz-Trailer": "x-amz-checksum-sha256",
        "Expect": "100-continue",
    }
    try:
        with FaultProxy(f"http://127.0.0.1:{upstream.server_port}") as proxy:
            host, port = proxy.url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.putrequest("PUT", "/bucket/key?x=1")
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"ok")
            conn.close()
    finally:
        upstream.shutdown()
        upstream.server_close()
    ((got_headers, got_body),) = received
    assert got_body == body
    for name, value in headers.items():
        if name != "Expect":  # answered by the proxy, as a hop-by-hop header
            assert got_headers[name.lower()] == value
    assert proxy.counts == {"forwarded": 1}
    assert proxy.errors == []
    assert proxy.alive_threads() == []
