"""Read a publishkit release the way AllenSDK users do: through `S3CloudCache`.

Run with the python of a venv that has allensdk (see .ci/allensdk-venv.sh), NOT publishkit's:

    AWS_ENDPOINT_URL=http://127.0.0.1:PORT AWS_DEFAULT_REGION=us-west-2 \\
        /path/to/allensdk-venv/bin/python tests/compat/allensdk_reader.py \\
        --cache-dir DIR --bucket B --project P --old OLD.json --new NEW.json

Only AllenSDK's public cloud-cache API does the work (listing, loading, downloading at the
pinned version, its own blake2b check and retries, compare_manifests); this script then
re-hashes every downloaded file against the manifest JSON as a second check.

Prints ONE JSON object on stdout:
    {"manifests": [...], "latest": NAME,
     "downloaded": {relpath: blake2b},        # every file of the latest manifest
     "downloaded_old": {relpath: blake2b},    # every file of --old, at its own pinned versions
     "compare": "<cache.compare_manifests(old, new)>"}
Exits non-zero (with the reason on stderr) on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any


def blake2b_of(path: Path) -> str:
    hasher = hashlib.blake2b()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def download_release(cache: Any, manifest_name: str) -> dict[str, str]:
    """Every metadata and data file of the loaded manifest, downloaded and hash-checked."""
    document = json.loads((Path(cache.cache_dir) / manifest_name).read_text())
    project_dir = Path(cache.cache_dir).resolve() / f"{document['project_name']}-{cache.version}"
    downloaded: dict[str, str] = {}
    jobs = [
        (cache.download_metadata, name, document["metadata_files"][name])
        for name in cache.metadata_file_names
    ]
    jobs += [  # AllenSDK 2.16 has no public list of file ids: take them from the manifest
        (cache.download_data, file_id, entry) for file_id, entry in document["data_files"].items()
    ]
    if not jobs:
        raise SystemExit(f"{manifest_name} lists no files")
    for download, key, entry in jobs:
        local = Path(download(key))
        if not local.is_file():
            raise SystemExit(f"{key}: AllenSDK returned {local}, which is not a file")
        # AllenSDK may satisfy a download with a symlink to an identical file it already has
        relpath = local.relative_to(project_dir).as_posix()
        digest = blake2b_of(local)
        if digest != entry["file_hash"]:
            raise SystemExit(
                f"{relpath}: blake2b {digest} != manifest file_hash {entry['file_hash']}"
            )
        if relpath in downloaded:
            raise SystemExit(f"two entries of {manifest_name} land on {relpath}")
        downloaded[relpath] = digest
    return downloaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", required=True, type=Path)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--old", required=True, help="earlier manifest file name")
    parser.add_argument("--new", required=True, help="later manifest file name")
    args = parser.parse_args(argv)

    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise SystemExit("AWS_ENDPOINT_URL is not set; refusing to read from real AWS")

    import boto3
    from allensdk.api.cloud_cache.cloud_cache import OutdatedManifestWarning, S3CloudCache

    endpoint = boto3.client("s3").meta.endpoint_url
    if endpoint.rstrip("/") != os.environ["AWS_ENDPOINT_URL"].rstrip("/"):
        raise SystemExit(
            f"boto3 {boto3.__version__} ignores AWS_ENDPOINT_URL (uses {endpoint}); need >= 1.28"
        )

    cache = S3CloudCache(str(args.cache_dir), args.bucket, args.project)
    manifests = list(cache.manifest_file_names)
    for name in (args.old, args.new):
        if name not in manifests:
            raise SystemExit(f"{name} is not among the listed manifests {manifests}")

    cache.load_latest_manifest()
    latest = cache.current_manifest
    downloaded = download_release(cache, latest)

    # the older release must still be readable at its own pinned object versions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutdatedManifestWarning)
        cache.load_manifest(args.old)
    downloaded_old = download_release(cache, args.old)

    result = {
        "manifests": manifests,
        "latest": latest,
        "downloaded": downloaded,
        "downloaded_old": downloaded_old,
        "compare": cache.compare_manifests(args.old, args.new),
    }
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
