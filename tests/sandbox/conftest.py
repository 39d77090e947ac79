"""The local DANDI archive as the sandbox's tests drive it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from publishkit.sandbox.archive import DandiSandbox
from tests.sandbox.test_archive import REGION


@pytest.fixture
def archive(s3_server, bucket, tmp_path: Path) -> Iterator[DandiSandbox]:
    """The local archive, its scheduled tasks run only when the test says (`ran`)."""
    with DandiSandbox(
        s3_server.endpoint_url, bucket.bucket, REGION, tmp_path / "d.sqlite", task_interval=3600
    ) as sandbox:
        yield sandbox
