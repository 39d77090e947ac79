"""The sandbox's S3 server: its disk use stays bounded by what it stores."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from publishkit.sandbox.s3 import SandboxInfo

MB = 1024 * 1024


def _deleted_open_files() -> dict[str, int]:
    """This process's open files that were deleted (the sandbox's spooled object bodies),
    path -> size: the disk they hold though no folder shows them."""
    held: dict[str, int] = {}
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
            if target.endswith(" (deleted)"):
                held[f"{fd.name}:{target}"] = os.fstat(int(fd.name)).st_size
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, a finished request)
    return held


@pytest.mark.slow
def test_listing_versions_many_times_holds_no_more_disk(
    bucket: SandboxInfo, s3_client: Any
) -> None:
    # bodies over moto's spooling threshold (5 MB) live in deleted temporary files
    for n in range(4):
        s3_client.put_object(Bucket=bucket.bucket, Key=f"big-{n}.nwb", Body=os.urandom(6 * MB))
    s3_client.put_object(Bucket=bucket.bucket, Key="big-0.nwb", Body=os.urandom(6 * MB))
    before = _deleted_open_files()
    for _ in range(8):
        listed = s3_client.list_object_versions(Bucket=bucket.bucket)
        assert len(listed["Versions"]) == 5
    after = _deleted_open_files()
    assert len(after) <= len(before)
    assert sum(after.values()) <= sum(before.values())
    # the bodies are still whole after being listed
    body = s3_client.get_object(Bucket=bucket.bucket, Key="big-3.nwb")["Body"].read()
    assert len(body) == 6 * MB
