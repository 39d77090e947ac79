"""Where a reader finds a manifest: a local file, an `s3://` or `https://` URL of one, or a
project's bucket and prefix with the version wanted (the latest when none is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from publishkit.errors import ManifestError, StorageError, UsageError
from publishkit.formats import manifest
from publishkit.formats.keys import KEY_FIX, key_problem
from publishkit.formats.release_layout import MANIFESTS_FOLDER
from publishkit.formats.urls import locate
from publishkit.s3.pinned import BucketPool

_HINT = "give a manifest file, its s3:// or https:// URL, or s3://BUCKET/PREFIX with a version"


def load_manifest(
    source: str | Path, version: str | None, pool: BucketPool
) -> tuple[dict[str, Any], str]:
    """The manifest `source` names (of release `version`, when given), validated; and where it
    was read, for messages."""
    text = str(source)
    if isinstance(source, Path) or "://" not in text:
        document = manifest.load(Path(text))
    elif text.startswith("s3://"):
        bucket, _, key = text.removeprefix("s3://").partition("/")
        document, text = _from_bucket(pool, bucket, key, version)
    elif text.startswith(("https://", "http://")):
        if text.endswith(".json"):
            document = manifest.parse_manifest(_download(text), text)
        else:  # a public bucket's URL, down to the release prefix
            where = locate(text.rstrip("/") + "/")
            document, text = _from_bucket(pool, where.bucket, where.key, version)
    else:
        raise UsageError(f"{text}: not a path, an s3:// or an https:// URL", hint=_HINT)
    if version is not None and document["manifest_version"] != version:
        raise UsageError(
            f"{text}: is manifest v{document['manifest_version']}, not v{version}",
            hint="drop version=, or give the release's prefix instead of one manifest",
        )
    return document, text


def _from_bucket(
    pool: BucketPool, bucket: str, key: str, version: str | None
) -> tuple[dict[str, Any], str]:
    """A manifest by its key, or release `version` (else the latest) under prefix `key`;
    a bucket or prefix that names no clean key is refused before any request."""
    if not bucket:
        raise UsageError(f"s3://{bucket}/{key}: no bucket named", hint=_HINT)
    problem = key_problem(key.rstrip("/")) if key.rstrip("/") else None
    if problem is not None:
        raise UsageError(f"s3://{bucket}/{key}: the prefix {problem}", hint=KEY_FIX)
    store = pool.get(bucket)
    if not key.endswith(".json"):
        prefix = key.strip("/")
        folder = f"{prefix}/{MANIFESTS_FOLDER}/" if prefix else f"{MANIFESTS_FOLDER}/"
        found = {
            found_version: name
            for name in store.list_keys(folder)
            if (found_version := manifest.version_from_name(name)) is not None
        }
        wanted = [v for v in found if version is None or str(v) == version]
        if not wanted:
            which = f"manifest v{version}" if version else "manifest"
            raise ManifestError(f"s3://{bucket}/{folder}: no {which} there", hint=_HINT)
        key = found[max(wanted)]
    data = store.get_bytes(key)
    if data is None:
        raise ManifestError(f"s3://{bucket}/{key}: no such manifest", hint=_HINT)
    where = f"s3://{bucket}/{key}"
    return manifest.parse_manifest(data, where), where


def _download(url: str) -> bytes:
    import requests

    try:
        response = requests.get(url, timeout=60)
    except requests.RequestException as exc:
        raise StorageError(f"{url}: cannot read the manifest ({exc})", hint=_HINT) from None
    if response.status_code != 200:
        host = urlsplit(url).netloc
        raise ManifestError(
            f"{url}: {host} answered {response.status_code} for the manifest", hint=_HINT
        )
    return response.content
