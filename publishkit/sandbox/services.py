"""The sandbox's services started together: a versioned S3 bucket and a DANDI archive whose
blobs live in that same local S3, both on loopback. `publishkit sandbox` and `publishkit demo`
start them the same way, through `serve()`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from publishkit.sandbox.archive import DandiSandbox
from publishkit.sandbox.s3 import (
    DANDI_BLOB_BUCKET,
    DEFAULT_BUCKET,
    DEFAULT_REGION,
    S3Sandbox,
    SandboxInfo,
    check_names,
)


class Services(msgspec.Struct, frozen=True):
    """Where the running sandbox answers, and the names and keys to reach it with."""

    s3: SandboxInfo
    api_url: str  # the local DANDI archive's API
    api_key: str
    api_key_variable: str  # where dandi-cli reads the key of this instance
    dandiset: str

    def environment(self) -> dict[str, str]:
        """What a shell, or a command, needs to release into the sandbox."""
        return {
            **self.s3.environment(),
            "DANDI_API_URL": self.api_url,
            "DANDI_API_KEY": self.api_key,
            "DANDISET_ID": self.dandiset,
        }


@contextmanager
def serve(
    *,
    port: int = 0,
    bucket: str = DEFAULT_BUCKET,
    region: str = DEFAULT_REGION,
    dandiset_name: str = "publishkit sandbox dandiset",
) -> Iterator[Services]:
    """Start the S3 and DANDI sandboxes (with an empty dandiset) for the block; stop them and
    remove their temporary folder after it, however it ends."""
    check_names(bucket, region)
    with (
        tempfile.TemporaryDirectory(prefix="publishkit-sandbox-") as state,
        S3Sandbox(port) as s3,
    ):
        info = s3.create_bucket(bucket, region)
        s3.create_bucket(DANDI_BLOB_BUCKET, region)
        with DandiSandbox(
            s3.endpoint_url, DANDI_BLOB_BUCKET, region, Path(state) / "dandi.sqlite"
        ) as archive:
            yield Services(
                s3=info,
                api_url=archive.api_url,
                api_key=archive.api_key,
                api_key_variable=archive.api_key_env_var,
                dandiset=archive.create_dandiset(dandiset_name),
            )
