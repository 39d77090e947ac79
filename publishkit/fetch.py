"""The consumer side: download a release at its pinned versions, checked before use.

Files land where AllenSDK's cache puts them, `<DIR>/<project>-<version>/<path>`, so a release
fetched here is also an AllenSDK cache. A file whose content was fetched before, for any manifest,
is hard-linked rather than downloaded again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from . import manifest
from .digests import DigestCache, FileDigests
from .errors import ManifestError, PublishkitError
from .jsonio import default_mode
from .pinned import BucketPool, PinnedFile, ReadSettings, pinned_files
from .progress import Progress, no_progress
from .state import StateStore

Outcome = Literal["downloaded", "linked", "present", "failed"]
THREADS = 4


@dataclass(frozen=True)
class FetchedFile:
    path: str  # where it landed, relative to DIR
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class FetchReport:
    manifest: str
    root: str  # <DIR>/<project>-<version>
    files: tuple[FetchedFile, ...]

    @property
    def ok(self) -> bool:
        return all(f.outcome != "failed" for f in self.files)

    def count(self, outcome: Outcome) -> int:
        return sum(f.outcome == outcome for f in self.files)

    def as_json(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "root": self.root,
            "ok": self.ok,
            "counts": {o: self.count(o) for o in ("downloaded", "linked", "present", "failed")},
            "files": [
                {"path": f.path, "outcome": f.outcome, "detail": f.detail} for f in self.files
            ],
        }


def fetch_release(
    *, manifest_path: Path, dest: Path, read: ReadSettings, progress: Progress = no_progress
) -> FetchReport:
    document = manifest.load(manifest_path)
    files = pinned_files(document, read)
    dest = dest.resolve()
    root = dest / f"{document['project_name']}-{document['manifest_version']}"
    targets = {item: _target(root, item) for item in files}  # every key checked first
    pool = BucketPool(read)
    for name in {item.bucket for item in files}:
        pool.get(name)
    total = sum(item.size or 0 for item in files)
    with StateStore.in_dir(dest / ".publishkit") as store:
        cache = DigestCache(store)

        def fetch(item: PinnedFile) -> FetchedFile:
            target = targets[item]
            shown = target.relative_to(dest).as_posix()
            try:
                outcome = _fetch_one(pool, cache, item, target, progress, total)
            except (PublishkitError, OSError) as exc:
                return FetchedFile(shown, "failed", str(exc))
            return FetchedFile(shown, outcome)

        with ThreadPoolExecutor(THREADS) as executor:
            results = tuple(executor.map(fetch, files))
    return FetchReport(str(manifest_path), str(root), results)


def _target(root: Path, item: PinnedFile) -> Path:
    rel = PurePosixPath(item.relpath)
    target = (root / rel).resolve()
    if rel.is_absolute() or ".." in rel.parts or not target.is_relative_to(root.resolve()):
        raise ManifestError(
            f"{item.group}/{item.name}: path {item.relpath!r} would land outside {root}; "
            "nothing was downloaded",
            hint="the manifest is malformed or hostile; do not use it",
        )
    return target


def _fetch_one(
    pool: BucketPool,
    cache: DigestCache,
    item: PinnedFile,
    target: Path,
    progress: Progress,
    total: int,
) -> Outcome:
    if target.is_file() and cache.get(target).blake2b == item.file_hash:
        progress("Fetching", item.size or 0, total)
        return "present"
    target.parent.mkdir(parents=True, exist_ok=True)
    known = cache.find(item.file_hash)
    if known is not None and known[0] != target:
        _link_into_place(known[0], target)
        cache.record(target, known[1])
        progress("Fetching", item.size or 0, total)
        return "linked"
    blake, sha = hashlib.blake2b(), hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    os.fchmod(fd, default_mode())
    try:
        with os.fdopen(fd, "wb") as handle:

            def write(chunk: bytes) -> None:
                handle.write(chunk)
                blake.update(chunk)
                sha.update(chunk)
                progress("Fetching", len(chunk), total)

            if not pool.get(item.bucket).stream(item.key, item.version_id, write):
                raise PublishkitError(
                    f"s3://{item.bucket}/{item.key}: version {item.version_id} does not exist"
                )
        if blake.hexdigest() != item.file_hash:
            raise PublishkitError(
                f"s3://{item.bucket}/{item.key}: downloaded content does not match file_hash; "
                "the file was not kept"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    cache.record(target, FileDigests(target.stat().st_size, blake.hexdigest(), sha.hexdigest()))
    return "downloaded"


def _link_into_place(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # another filesystem, or links not supported: copy instead
        shutil.copy2(source, tmp)
    os.replace(tmp, target)
