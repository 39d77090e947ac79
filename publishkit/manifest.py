"""Manifests: the AllenSDK-compatible JSON that pins every file of a release to an S3 version."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlparse

from .errors import ManifestError
from .jsonio import dumps, write_atomic
from .schemas import violations
from .versions import Version

_NAME = re.compile(r"^(?P<project>.+)_project_manifest_v(?P<version>[^/]+)\.json$")
GROUPS = ("metadata_files", "data_files")


def manifest_name(project: str, version: Version | str) -> str:
    return f"{project}_project_manifest_v{version}.json"


def version_from_name(name: str) -> Version | None:
    """The version in `<project>_project_manifest_v<X.Y.Z>.json`, or None for other names."""
    match = _NAME.match(PurePosixPath(name).name)
    if match is None:
        return None
    try:
        return Version.parse(match["version"])
    except Exception:
        return None


def public_url(template: str, *, bucket: str, region: str, key: str) -> str:
    return template.format(bucket=bucket, region=region, key=quote(key, safe="/-_.~"))


def parse_manifest(data: bytes | str, source: str) -> dict[str, Any]:
    """Decode and validate; a ManifestError names `source` and the JSON pointer at fault."""
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"{source}: not valid JSON ({exc})", hint="is this a publishkit or AllenSDK manifest?"
        ) from None
    validate(document, source)
    return dict(document)


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest file", hint="check the path")
    return parse_manifest(path.read_bytes(), str(path))


def validate(document: Any, source: str) -> None:
    problems = violations(document, "manifest")
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ManifestError(
            f"{source}: at {first.pointer or '/'}: {first.message}{more}",
            hint="see schemas/manifest.schema.json",
        )


def write_local(path: Path, document: dict[str, Any]) -> None:
    validate(document, str(path))
    write_atomic(path, dumps(document))


def entry_relpath(entry: dict[str, Any]) -> str:
    """The entry's path under the release prefix: its `path`, else AllenSDK's reading of `url`."""
    if entry.get("path"):
        return str(entry["path"])
    return allensdk_relpath(entry["url"])


def allensdk_relpath(url: str) -> str:
    """What AllenSDK calls a file: the URL path without its first component (the prefix)."""
    return "/".join(urlparse(url).path[1:].split("/")[1:])


@dataclass(frozen=True)
class ObjectLocation:
    bucket: str
    key: str


def locate(url: str, template: str | None = None, bucket: str | None = None) -> ObjectLocation:
    """Bucket and key of a manifest URL: by the workspace's `public_url`, else S3's URL forms."""
    patterns = []
    if template:
        pattern = re.escape(template)
        for name, regex in (("bucket", r"[^/]+?"), ("region", r"[^/]+?"), ("key", r".+")):
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{regex})", 1)
        patterns.append(pattern)
    patterns += [
        r"https?://(?P<bucket>[^/]+?)\.s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?/(?P<key>.+)",
        r"https?://s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com/(?P<bucket>[^/]+)/(?P<key>.+)",
        r"https?://[^/]+/(?P<bucket>[^/]+)/(?P<key>.+)",
    ]
    for pattern in patterns:
        match = re.fullmatch(pattern, url)
        if match is None:
            continue
        found = match.groupdict().get("bucket") or bucket
        if found:
            return ObjectLocation(found, unquote(match["key"]))
    raise ManifestError(
        f"{url}: cannot tell the bucket and key from this URL",
        hint="run inside the workspace whose s3.public_url produced it",
    )
