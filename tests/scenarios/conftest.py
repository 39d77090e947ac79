"""Fixtures of the whole-system scenarios."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from publishkit.sandbox.archive import DandiSandbox
from tests.faultproxy import FaultProxy, Plan, no_faults
from tests.sandbox.test_archive import dandi_env


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


@pytest.fixture
def dandi_home(archive: DandiSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """publishkit and the dandi-cli it runs see the local archive: a fresh home (no keyring,
    no cache, no user configuration) and its API key as DANDI_API_KEY, the variable a release
    engineer sets. The home, returned."""
    home = tmp_path / "home"
    for key, value in dandi_env(archive, home).items():
        if key.startswith(("HOME", "XDG_", "DANDI_", "PYTHON_KEYRING")):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv(archive.api_key_env_var, raising=False)
    monkeypatch.setenv("DANDI_API_KEY", archive.api_key)
    return home
