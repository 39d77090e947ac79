"""Fixtures of the whole-system scenarios."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.faultproxy import FaultProxy, Plan, no_faults


@pytest.fixture
def through_proxy(s3_server, aws_env, monkeypatch) -> Iterator[Callable[..., FaultProxy]]:
    """Start a proxy in front of moto with a plan (faults to inject, or an action such as
    rewriting a file when a request arrives); publishkit's AWS_ENDPOINT_URL is the proxy."""
    started: list[FaultProxy] = []

    def start(plan: Plan = no_faults) -> FaultProxy:
        proxy = FaultProxy(s3_server.endpoint_url, plan)
        proxy.start()
        started.append(proxy)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
        assert proxy.alive_threads() == []
        assert proxy.errors == []
