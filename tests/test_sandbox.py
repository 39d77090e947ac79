"""`publishkit sandbox`: a real server process, its KEY=VALUE lines, a versioned public bucket."""

from __future__ import annotations

import subprocess
import sys

import boto3
import requests
from botocore import UNSIGNED
from botocore.config import Config


def test_sandbox_serves_s3_and_dandi_and_prints_their_environment() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "publishkit", "sandbox", "--bucket", "rehearsal"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(8)]
        env = dict(line.split("=", 1) for line in lines)
        assert env["DANDI_API_URL"].startswith("http://127.0.0.1:")
        assert env["DANDI_API_URL"].endswith("/api")
        dandiset = requests.get(
            f"{env['DANDI_API_URL']}/dandisets/{env['DANDISET_ID']}/versions/draft/assets/",
            headers={"Authorization": f"token {env['DANDI_API_KEY']}"},
            timeout=30,
        ).json()
        assert dandiset["count"] == 0  # an empty dandiset, ready for uploads
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
