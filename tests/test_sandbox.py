"""`publishkit sandbox`: a real server process, its KEY=VALUE lines, a versioned public bucket."""

from __future__ import annotations

import subprocess
import sys

import boto3
from botocore import UNSIGNED
from botocore.config import Config


def test_sandbox_prints_environment_and_serves_a_versioned_public_bucket() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "publishkit", "sandbox", "--bucket", "rehearsal"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(5)]
        env = dict(line.split("=", 1) for line in lines)
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert env["PUBLISHKIT_BUCKET"] == "rehearsal"
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        assert client.get_bucket_versioning(Bucket="rehearsal")["Status"] == "Enabled"
        client.put_object(Bucket="rehearsal", Key="k", Body=b"x")
        anonymous = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            config=Config(signature_version=UNSIGNED),
        )
        assert anonymous.get_object(Bucket="rehearsal", Key="k")["Body"].read() == b"x"
    finally:
        process.terminate()
        process.communicate(timeout=10)
