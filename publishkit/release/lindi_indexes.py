"""The LINDI index of each HDF5 NWB data file, published beside the manifest.

Built from the local file at release time (lindi reads only the HDF5 structure, no data), with
every chunk reference at the file's pinned URL (`?versionId=`), and put at
`<prefix>/lindi/<file path>.lindi.json`; the manifest entry records its path, version and hash
(`lindi_index`). An index is built once per content (kept in the state folder with a placeholder
for the URL), and a file the previous release pinned at the same version keeps that release's
index: nothing is built or sent for it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import msgspec
import orjson

from publishkit.errors import ManifestError
from publishkit.formats import manifest
from publishkit.formats.lindi_index import (
    INDEX_FOLDER,
    IndexRecord,
    check_index,
    index_path,
    pinned_url,
    with_urls,
)
from publishkit.formats.manifest import Manifest
from publishkit.release.lindi_build import BUILD, PLACEHOLDER, build_from_open, build_template
from publishkit.s3 import content_types
from publishkit.s3.bucket import S3Bucket
from publishkit.workspace.config import Settings
from publishkit.workspace.executors import executor_for
from publishkit.workspace.inventory import ReleaseFile
from publishkit.workspace.nwb_summaries import is_hdf5

log = logging.getLogger(__name__)
PUTS_AT_ONCE = 8
IN_THIS_PROCESS = 1000  # indexes built here, one by one, when no more are missing: workers
# cost seconds to start (a forkserver importing lindi), an index ~0.03 s (lindi_h5py_index); 150
# small files on 2 cores: +5.4 s built here, +8.8 s in 2 workers


class PlannedIndex(msgspec.Struct, frozen=True):
    """What a release does about one data file's LINDI index."""

    path: str  # the index's path under the release prefix
    file: str  # the data file's path
    action: Literal["build", "upload", "keep"]  # build and upload; upload one built before;
    # keep the previous release's (the file is pinned at the same version)


class IndexWork(msgspec.Struct, frozen=True):
    """The indexes a release publishes: those it keeps from the previous release, those it
    builds (or finds built) and uploads."""

    kept: list[tuple[ReleaseFile, IndexRecord]]
    todo: list[tuple[ReleaseFile, dict[str, Any]]]  # with its entry in the document
    cache: Path

    def plan(self) -> list[PlannedIndex]:
        """What is done for each index, in the files' order."""
        built = {item.relpath for item, entry in self.todo if self.template(entry).is_file()}
        planned = [
            PlannedIndex(index_path(item.relpath), item.relpath, "keep") for item, _ in self.kept
        ]
        planned += [
            PlannedIndex(
                index_path(item.relpath),
                item.relpath,
                "upload" if item.relpath in built else "build",
            )
            for item, _ in self.todo
        ]
        return sorted(planned, key=lambda index: index.path)

    def template(self, entry: dict[str, Any]) -> Path:
        """Where the index of this entry's content, with the placeholder URL, is kept."""
        return _template_path(self.cache, entry["file_hash"])


def index_work(
    *, settings: Settings, document: Manifest, files: list[ReleaseFile], previous: Manifest | None
) -> IndexWork:
    """The indexes a release of `files` (its manifest `document`, a draft when its versions are
    not all pinned yet: a changed file has none) publishes; nothing written."""
    earlier = {
        manifest.entry_relpath(dict(entry)): entry
        for entry in (previous["data_files"].values() if previous else ())
    }
    kept: list[tuple[ReleaseFile, IndexRecord]] = []
    todo: list[tuple[ReleaseFile, dict[str, Any]]] = []
    for item in files:
        if item.group != "data" or PurePosixPath(item.relpath).suffix.lower() != ".nwb":
            continue
        entry: dict[str, Any] = document["data_files"][item.name]  # type: ignore[assignment]
        old = earlier.get(item.relpath)
        if old is not None and old["version_id"] == entry["version_id"] and "lindi_index" in old:
            kept.append((item, old["lindi_index"]))
        elif indexed(item.path, settings.lindi_index_min_mb, entry.get("size")):
            todo.append((item, entry))
    return IndexWork(kept, todo, settings.state_dir / "lindi")


def built_while_summarizing(
    settings: Settings,
    files: list[ReleaseFile],
    blake2b: Mapping[str, str],
    sizes: Mapping[str, int] | None = None,
) -> dict[str, Callable[[Any], object]]:
    """Content hash -> what builds that NWB data file's index, with the placeholder URL, in
    the read that summarizes it (`SummaryCache.get_all`'s `also`): each file this release
    indexes (`blake2b`: relpath -> its content hash; `sizes`: relpath -> its size as hashed,
    when known: a file too small for an index is not looked at) whose index is not built yet.
    None on a Dask cluster (its workers write elsewhere): `publish_indexes` builds them."""
    if settings.lindi_index_min_mb is None or settings.executor.dask:
        return {}
    cache = settings.state_dir / "lindi"
    found: dict[str, Callable[[Any], object]] = {}
    for item in files:
        if item.group != "data" or PurePosixPath(item.relpath).suffix.lower() != ".nwb":
            continue
        size = sizes.get(item.relpath) if sizes else None
        if size is not None and size < settings.lindi_index_min_mb * 2**20:
            continue
        content = blake2b[item.relpath]
        template = _template_path(cache, content)
        if not template.is_file() and indexed(item.path, settings.lindi_index_min_mb, size):
            found[content] = functools.partial(build_from_open, template)
    return found


def publish_indexes(
    *,
    settings: Settings,
    bucket: S3Bucket,
    document: Manifest,
    files: list[ReleaseFile],
    previous: Manifest | None,
) -> int:
    """Record in `document` (its versions pinned) the LINDI index of each HDF5 NWB data file,
    putting those the previous release does not have; how many were put."""
    work = index_work(settings=settings, document=document, files=files, previous=previous)
    for item, record in work.kept:
        document["data_files"][item.name]["lindi_index"] = record
    todo = work.todo
    if not todo:
        return 0
    work.cache.mkdir(parents=True, exist_ok=True)
    cached = {entry["file_hash"]: work.template(entry) for _, entry in todo}
    templates = {to: _template(to) for to in set(cached.values())}  # None: to build
    missing = {cached[entry["file_hash"]]: item.path for item, entry in todo}
    missing = {to: path for to, path in missing.items() if templates[to] is None}
    jobs = (os.cpu_count() or 1) if len(missing) > IN_THIS_PROCESS else 1
    runner = executor_for(settings.executor, jobs, len(missing), preload=("lindi",))
    for (_, path), problem in runner.map_unordered(build_template, list(missing.items())):
        if problem is not None:  # WorkerCrashed, or lindi's reason
            log.warning("%s: no LINDI index (%s); readers stream it with remfile", path, problem)
    templates |= {to: _template(to) for to in missing}
    listed = _listed(bucket, settings.s3.key(INDEX_FOLDER + "/"), len(todo), len(work.kept))
    with ThreadPoolExecutor(PUTS_AT_ONCE) as pool:
        sent = []
        for item, entry in todo:
            template = templates[cached[entry["file_hash"]]]
            if template is None:
                continue
            data = _pinned_index(template, pinned_url(entry["url"], entry["version_id"]))
            key = settings.s3.key(index_path(item.relpath))
            known = listed.get(key, "") if listed is not None else None
            sent.append((entry, data, pool.submit(_put, bucket, key, data, known)))
        for entry, data, put in sent:
            entry["lindi_index"] = IndexRecord(
                path=index_path(manifest.entry_relpath(entry)),
                version_id=put.result(),
                file_hash=hashlib.blake2b(data).hexdigest(),
            )
    return len(sent)


def _listed(bucket: S3Bucket, folder: str, todo: int, kept: int) -> dict[str, str] | None:
    """The index keys under `folder` with their latest ETags, when one listing (a request per
    1,000 keys: about as many as the release's indexes) costs fewer requests than a HEAD before
    each of the `todo` PUTs; None otherwise."""
    if todo <= (todo + kept) // 1000 + 1:
        return None
    return bucket.etags(folder)


def _put(bucket: S3Bucket, key: str, data: bytes, listed: str | None = None) -> str:
    """Put the index; a run that died after putting this same index left it as the key's
    latest version (its ETag is the MD5 of a single PUT): that version, not a second one.
    `listed`: the key's latest ETag as a listing found it ("" when absent): a HEAD only when
    it is this index's, for its version id; None: not listed, a HEAD first."""
    md5 = hashlib.md5(data).hexdigest()
    if listed is None or listed == md5:
        current = bucket.head(key)
        if current is not None and current.etag.strip('"') == md5:
            return current.version_id
    version = bucket.put_bytes(key, data, content_type=content_types.JSON, create_only=False)
    log.info("published LINDI index s3://%s/%s", bucket.name, key)
    return version


def _pinned_index(template: dict[str, Any], url: str) -> bytes:
    """The index as published: the placeholder URL replaced by the pinned one, compact JSON
    with sorted keys (chunk lists of a big file stay one line each)."""
    document = with_urls(template, lambda _: url)
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _template(cached: Path) -> dict[str, Any] | None:
    """The cached index, checked: a LINDI index (its schema) whose every URL is the
    placeholder; None when none could be built, a crash left it torn (it does not parse) or
    it is not one (then it is built again)."""

    def placeholder(found: str) -> str:
        if found != PLACEHOLDER:
            raise ValueError(f"the index names {found}, not its own file")
        return found

    try:
        document = _parsed(cached.read_bytes())
        check_index(document, str(cached))
        with_urls(document, placeholder)
    except (OSError, ValueError, TypeError, ManifestError):
        return None
    return document


def _parsed(text: bytes) -> dict[str, Any]:
    """A cached index's document (orjson: 2.5x json's speed; json for what orjson refuses,
    NaN say)."""
    try:
        return dict(orjson.loads(text))
    except orjson.JSONDecodeError:
        return dict(json.loads(text))


def _template_path(cache: Path, content: str) -> Path:
    """Where the index of this content (blake2b), with the placeholder URL, is kept."""
    return cache / f"{content[:32]}.b{BUILD}.lindi.json"


def indexed(path: Path, min_mb: float | None, size: int | None = None) -> bool:
    """The file gets an index: HDF5 (its signature, without importing h5py), at least
    `min_mb` MiB (the workspace's `lindi_index_min_mb`; None: no file does). `size`: the
    file's size as the release hashed it (its manifest entry's), else it is asked of the file."""
    if min_mb is None:
        return False
    try:
        large = (path.stat().st_size if size is None else size) >= min_mb * 2**20
    except OSError:
        return False
    return large and is_hdf5(path)
