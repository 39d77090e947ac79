"""The WAN proxy in front of the real moto server: rate cap, latency, cuts, byte counts."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from publishkit.sandbox.s3 import S3Sandbox, SandboxInfo
from publishkit.sandbox.wan import WanProxy

MB = 1024 * 1024


def _client(endpoint: str, attempts: int = 1) -> Any:
    return boto3.session.Session(
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox"
    ).client(
        "s3",
        endpoint_url=endpoint,
        config=Config(
            region_name="us-west-2",
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "total_max_attempts": attempts},
        ),
    )


def test_rate_is_capped_per_connection_and_bytes_are_counted(
    s3_server: S3Sandbox, bucket: SandboxInfo
) -> None:
    body = b"x" * (2 * MB)
    with WanProxy(s3_server.endpoint_url, rate=4 * MB) as proxy:
        client = _client(proxy.endpoint_url)
        started = time.monotonic()
        client.put_object(Bucket=bucket.bucket, Key="a", Body=body)
        took = time.monotonic() - started
        traffic = proxy.traffic()
    assert 0.4 <= took < 5, took  # 2 MiB at 4 MiB/s: half a second, not instant
    assert len(body) <= traffic.bytes_up < len(body) + 64 * 1024  # the body and its headers
    assert traffic.bytes_down > 0
    assert traffic.cuts == 0
    assert (
        _client(s3_server.endpoint_url).get_object(Bucket=bucket.bucket, Key="a")["Body"].read()
        == body
    )


def test_two_connections_each_get_the_rate(s3_server: S3Sandbox, bucket: SandboxInfo) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = b"y" * MB
    with WanProxy(s3_server.endpoint_url, rate=2 * MB) as proxy:
        client = _client(proxy.endpoint_url)
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(
                pool.map(
                    lambda k: client.put_object(Bucket=bucket.bucket, Key=k, Body=body), "abcd"
                )
            )
        took = time.monotonic() - started
        assert proxy.traffic().connections >= 2
    assert took < 1.6, took  # 4 MiB at 2 MiB/s per connection, four at once: about 0.5 s


def test_latency_is_added_per_round_trip(s3_server: S3Sandbox, bucket: SandboxInfo) -> None:
    with WanProxy(s3_server.endpoint_url, latency_ms=150) as proxy:
        client = _client(proxy.endpoint_url)
        client.head_bucket(Bucket=bucket.bucket)  # connect: one round trip, then one more
        started = time.monotonic()
        client.head_bucket(Bucket=bucket.bucket)  # on the same connection: one round trip
        took = time.monotonic() - started
    assert 0.14 <= took < 1.0, took


def test_connection_is_cut_after_n_bytes(s3_server: S3Sandbox, bucket: SandboxInfo) -> None:
    with WanProxy(s3_server.endpoint_url, cut_after=256 * 1024) as proxy:
        client = _client(proxy.endpoint_url)  # no retries: the cut shows
        with pytest.raises((BotoCoreError, ClientError)):
            client.put_object(Bucket=bucket.bucket, Key="cut", Body=b"z" * MB)
        traffic = proxy.traffic()
    assert traffic.cuts == traffic.connections == 1
    assert traffic.bytes_up + traffic.bytes_down == 256 * 1024
    versions = _client(s3_server.endpoint_url).list_object_versions(Bucket=bucket.bucket)
    assert "Versions" not in versions  # the cut request never completed


def test_reset_counts_and_stop_joins_threads(s3_server: S3Sandbox, bucket: SandboxInfo) -> None:
    import threading

    before = {t for t in threading.enumerate() if t.name.startswith("wan-")}
    proxy = WanProxy(s3_server.endpoint_url)
    proxy.start()
    _client(proxy.endpoint_url).put_object(Bucket=bucket.bucket, Key="k", Body=b"1" * 1000)
    assert proxy.traffic().bytes_up >= 1000
    proxy.reset_counts()
    assert proxy.traffic().bytes_up == 0
    proxy.stop()
    after = {t for t in threading.enumerate() if t.name.startswith("wan-") and t.is_alive()}
    assert after <= before


def test_sandbox_command_serves_s3_behind_the_wan_proxy() -> None:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "publishkit", "sandbox", "--bucket", "wan", "--wan-rate", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        env = dict(process.stdout.readline().strip().split("=", 1) for _ in range(8))
        client = _client(env["AWS_ENDPOINT_URL"])
        started = time.monotonic()
        client.put_object(Bucket="wan", Key="k", Body=b"w" * (2 * MB))
        took = time.monotonic() - started
        assert client.get_object(Bucket="wan", Key="k")["Body"].read() == b"w" * (2 * MB)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert took >= 0.8, took  # 2 MiB at 2 MiB/s: through the proxy, not straight to S3


def test_the_link_drops_every_n_bytes_across_connections(
    s3_server: S3Sandbox, bucket: SandboxInfo
) -> None:
    with WanProxy(s3_server.endpoint_url, cut_every=MB) as proxy:
        client = _client(proxy.endpoint_url)
        failures = 0
        for key in "abcdef":  # 6 x 400 KiB: the link drops twice on the way
            try:
                client.put_object(Bucket=bucket.bucket, Key=key, Body=b"q" * 400 * 1024)
            except (BotoCoreError, ClientError):
                failures += 1
        traffic = proxy.traffic()
    assert traffic.cuts == failures == 2


def test_a_transfer_longer_than_the_idle_timeout_is_not_cut(
    s3_server: S3Sandbox, bucket: SandboxInfo
) -> None:
    """A download keeps its request side quiet for as long as it lasts: that side is not idle
    while the answer flows."""
    body = b"d" * (2 * MB)
    _client(s3_server.endpoint_url).put_object(Bucket=bucket.bucket, Key="d", Body=body)
    with WanProxy(s3_server.endpoint_url, rate=2 * MB, idle_timeout=0.3) as proxy:
        got = _client(proxy.endpoint_url).get_object(Bucket=bucket.bucket, Key="d")["Body"].read()
        assert proxy.traffic().cuts == 0
    assert got == body
