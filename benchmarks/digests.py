"""One-read multi-digest vs hashlib: throughput ratio against the slowest single digest.

    python benchmarks/digests.py [--size-mb 512] [--repeat 3]

Writes a temporary file of random bytes, warms the page cache, then times (best of --repeat):
hashlib.blake2b alone, hashlib.sha256 alone (each reading the file itself, same chunk size) and
publishkit's `digest_file`, which produces both from one read. The target is a ratio >= 0.8
against the slowest single digest: computing every digest costs no more than the slowest one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from publishkit.workspace.digests import CHUNK_SIZE, digest_file


def single(name: str) -> Callable[[Path], str]:
    def run(path: Path) -> str:
        hasher = hashlib.new(name)
        with open(path, "rb", buffering=0) as handle:
            while chunk := handle.read(CHUNK_SIZE):
                hasher.update(chunk)
        return hasher.hexdigest()

    return run


def best_seconds(func: Callable[[Path], object], path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func(path)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "payload.bin"
        with open(path, "wb") as handle:
            for _ in range(args.size_mb):
                handle.write(os.urandom(1024 * 1024))
        single("md5")(path)  # warm the page cache
        mb = args.size_mb
        rates = {
            name: mb / best_seconds(single(name), path, args.repeat)
            for name in ("blake2b", "sha256")
        }
        combined = mb / best_seconds(digest_file, path, args.repeat)
        found = digest_file(path)
        assert found.blake2b == single("blake2b")(path)
        assert found.sha256 == single("sha256")(path)
    slowest = min(rates, key=rates.__getitem__)
    for name, rate in rates.items():
        print(f"hashlib {name:<8} alone        {rate:8.0f} MB/s")
    print(f"publishkit blake2b+sha256, 1 read {combined:8.0f} MB/s")
    print(
        f"ratio vs slowest single digest ({slowest}): {combined / rates[slowest]:.2f} "
        f"(target >= 0.80; {os.cpu_count()} cores, {mb} MB)"
    )


if __name__ == "__main__":
    main()
