"""Where a reader is told to find a manifest: a bucket prefix that is not a clean key is refused
before any request is sent."""

from __future__ import annotations

import socket

import pytest


def _closed_port() -> int:
    """A loopback port nothing listens on: a request sent there fails as an outage (exit 1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("s3://bucket/../other", "'..'"),
        ("s3://bucket/a/./b/", "'.'"),
        ("s3://bucket/a//b", "empty part"),
        ("s3://bucket/../other/manifests/p_manifest_v1.0.0.json", "'..'"),
        ("s3:///prefix", "no bucket"),
    ],
)
def test_a_prefix_that_is_not_a_clean_key_is_refused_before_any_request(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path, source: str, said: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    for command in (("ls", source, "--version", "1.0.0"), ("show", source, "1")):
        result = cli(*command, cwd=tmp_path)

        assert result.exit_code == 2, result.stderr  # a request would have been an outage: 1
        assert source in result.stderr and said in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
