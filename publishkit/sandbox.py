"""A local, versioned S3 on loopback (moto's server) for rehearsals, demos and tests."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

SANDBOX_KEY = "sandbox"  # moto accepts any credentials; these are not secrets
DEFAULT_BUCKET = "demo-release"
DEFAULT_REGION = "us-west-2"


@dataclass(frozen=True)
class SandboxInfo:
    endpoint_url: str
    bucket: str
    region: str

    def environment(self) -> dict[str, str]:
        """What a shell needs to release into the sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": SANDBOX_KEY,
            "AWS_SECRET_ACCESS_KEY": SANDBOX_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "PUBLISHKIT_BUCKET": self.bucket,
        }


class S3Sandbox:
    """moto's S3 server in a background thread, bound to 127.0.0.1; a context manager."""

    def __init__(self, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer  # heavy import, only when a sandbox runs

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._started = False

    def start(self) -> str:
        self._server.start()
        self._started = True
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._started:
            self._server.stop()
            self._started = False

    def __enter__(self) -> S3Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, region: str = DEFAULT_REGION) -> Any:
        return boto3.session.Session(
            aws_access_key_id=SANDBOX_KEY, aws_secret_access_key=SANDBOX_KEY
        ).client(
            "s3",
            endpoint_url=self.endpoint_url,
            config=Config(region_name=region, s3={"addressing_style": "path"}),
        )

    def create_bucket(
        self, bucket: str = DEFAULT_BUCKET, region: str = DEFAULT_REGION, *, versioned: bool = True
    ) -> SandboxInfo:
        """A bucket like a public release bucket: anyone may read, versioning on."""
        client = self.client(region)
        args: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client.create_bucket(**args)
        if versioned:
            client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_public_read(bucket)))
        return SandboxInfo(self.endpoint_url, bucket, region)


def _public_read(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Sid": "PublicList",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ],
    }
