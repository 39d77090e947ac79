"""Upload to DANDI through dandi-cli: only what changed, each file on its own (several at once,
each in parts sent at once), results recorded.

dandi-cli reads the API key where it always does (DANDI_API_KEY, its keyring). A file whose content
passed the checks DANDI applies, as DANDI applies them (`publishkit inspect` with the `dandi` config
unchanged, nothing CRITICAL suppressed), is uploaded without dandi-cli validating it a second time;
any other file is validated by dandi-cli, which refuses it as DANDI would.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Literal

import msgspec

from publishkit.dandi.access import require_target
from publishkit.dandi.api import authenticated_client, dandi_client
from publishkit.errors import WorkspaceError
from publishkit.interrupts import Interrupt, never
from publishkit.progress import Progress, no_progress
from publishkit.tally import Tally
from publishkit.upstream import silenced
from publishkit.workspace.config import Settings
from publishkit.workspace.digests import DigestCache
from publishkit.workspace.runlock import exclusive_run
from publishkit.workspace.state import (
    DandiAsset,
    DandiAssets,
    Inspections,
    OrganizedPaths,
    StateStore,
)

Outcome = Literal["uploaded", "unchanged", "removed", "failed"]
FILES_AT_ONCE = 4  # files that passed DANDI's checks, uploaded side by side
PARTS_AT_ONCE = 4  # dandi-cli's jobs_per_file: a file's parts sent at once


def _silenced_if(isolated: bool) -> contextlib.AbstractContextManager[None]:
    return silenced() if isolated else contextlib.nullcontext()


class DandiFile(msgspec.Struct, frozen=True):
    """What the DANDI upload did with one file of the dandiset folder, and why it failed."""

    dandi_path: str
    outcome: Outcome
    asset_id: str | None = None
    etag: str | None = None
    validated_by_dandi: bool = False
    reason: str | None = None


class DandiUploadReport(Tally, msgspec.Struct, frozen=True):
    """What the DANDI upload did with each file of the dandiset folder."""

    ITEMS = "files"
    OUTCOMES = ("uploaded", "unchanged", "removed", "failed")

    instance: str
    dandiset: str
    files: tuple[DandiFile, ...]

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "instance": self.instance,
            "dandiset": self.dandiset,
            "ok": self.ok,
            "counts": self.counts(),
            "files": self.items_json(),
        }


def upload_to_dandi(
    *,
    settings: Settings,
    api_key: str | None = None,
    wait: bool = False,
    progress: Progress = no_progress,
    interrupt: Interrupt = never,
) -> DandiUploadReport:
    """dandi-cli's upload of what changed in the dandiset folder, file by file (a failure is
    reported, the others go on); one writing run of the workspace at a time. dandi-cli finds
    the API key where it always does (`<INSTANCE>_API_KEY`, its keyring); publishkit's own
    requests (each uploaded asset's digest, a stale asset's removal) go through dandi-cli's
    client with `api_key` (else the keyring's: `api.authenticated_client`)."""
    with exclusive_run(settings.state_dir, "upload", wait=wait):
        return _upload(settings=settings, api_key=api_key, progress=progress, interrupt=interrupt)


def _upload(
    *, settings: Settings, api_key: str | None, progress: Progress, interrupt: Interrupt
) -> DandiUploadReport:
    instance, dandiset = require_target(settings)
    dandi = settings.dandi
    with StateStore.in_dir(settings.state_dir) as store:
        organized = sorted(set(OrganizedPaths(store).paths().values()))
        if not organized:
            raise WorkspaceError(
                f"{dandi.folder}: nothing organized yet", hint="run `publishkit organize` first"
            )
        digests = DigestCache(store)
        results = _upload_all(store, digests, settings, api_key, organized, progress, interrupt)
        results += _remove_stale(store, instance, dandiset, api_key, set(organized))
    return DandiUploadReport(instance, dandiset, tuple(results))


def _upload_all(
    store: StateStore,
    digests: DigestCache,
    settings: Settings,
    api_key: str | None,
    organized: list[str],
    progress: Progress,
    interrupt: Interrupt,
) -> list[DandiFile]:
    dandi = settings.dandi
    assert settings.dandi_target is not None  # the caller checked it (require_target)
    instance, dandiset = settings.dandi_target
    assets = DandiAssets(store, dandiset)
    uploaded = assets.all()
    inspections = Inspections(store)
    done: dict[str, DandiFile] = {}
    trusted: list[tuple[str, Path, str]] = []
    checked: list[tuple[str, Path, str]] = []
    for name in organized:
        target = dandi.folder / name
        content = digests.get(target).blake2b
        known = uploaded.get(name)
        if known is not None and known.blake2b == content:
            done[name] = DandiFile(name, "unchanged", known.asset_id, known.etag)
            progress("Uploading to DANDI", 1, len(organized))
        elif inspections.passed_dandi_checks(content):
            trusted.append((name, target, content))
        else:
            checked.append((name, target, content))

    def upload(name: str, target: Path, trusted: bool, isolated: bool) -> DandiFile:
        interrupt(f"the DANDI upload of {name}")  # none starts after an interrupt
        return _upload_one(instance, dandiset, api_key, target, name, trusted, isolated=isolated)

    def record(name: str, content: str, result: DandiFile) -> None:
        done[name] = result
        if result.outcome == "uploaded" and result.asset_id and result.etag:
            assets.keep(name, DandiAsset(result.asset_id, content, result.etag))
        finished = name if result.outcome == "uploaded" else ""
        progress("Uploading to DANDI", 1, len(organized), done=finished)

    # Files that passed DANDI's checks go up several at once: dandi-cli validates none of
    # them, so none has refusals of its own to tell apart in dandi-cli's (shared) log.
    with _dandi_log([]), silenced(), ThreadPoolExecutor(FILES_AT_ONCE) as pool:
        futures = {
            pool.submit(upload, name, target, True, False): (
                name,
                content,
            )
            for name, target, content in trusted
        }
        for future in as_completed(futures):
            record(*futures[future], future.result())
    for name, target, content in checked:  # one at a time: the refusals logged are its own
        record(name, content, upload(name, target, False, True))
    return [done[name] for name in organized]


def _remove_stale(
    store: StateStore, instance: str, dandiset: str, api_key: str | None, organized: set[str]
) -> list[DandiFile]:
    """Assets publishkit uploaded whose file left the dandiset folder leave the draft too."""
    assets = DandiAssets(store, dandiset)
    stale = [
        (path, asset.asset_id) for path, asset in assets.all().items() if path not in organized
    ]
    if not stale:
        return []
    results = []
    with authenticated_client(instance, api_key) as client:
        draft = client.get_dandiset(dandiset, "draft")
        for path, asset_id in stale:
            try:
                draft.get_asset(asset_id).delete()
            except Exception as exc:
                results.append(DandiFile(path, "failed", asset_id, reason=f"delete: {exc}"))
                continue
            assets.forget(path)
            results.append(DandiFile(path, "removed", asset_id))
    return results


def _upload_one(
    instance: str,
    dandiset: str,
    api_key: str | None,
    target: Path,
    name: str,
    trusted: bool,
    *,
    isolated: bool = True,
) -> DandiFile:
    """One dandi-cli upload, its parts PARTS_AT_ONCE at a time; its failure is this file's,
    reported with the reason. `isolated`: dandi-cli's log and output are captured here (the
    caller does it once for uploads that run side by side)."""
    from dandi.upload import UploadExisting, UploadValidation, upload

    validation = UploadValidation.SKIP if trusted else UploadValidation.REQUIRE
    refusals: list[str] = []
    try:
        with _dandi_log(refusals) if isolated else contextlib.nullcontext(), _silenced_if(isolated):
            upload(
                [str(target)],
                existing=UploadExisting.OVERWRITE,  # by content (etag), not by mtime
                validation=validation,
                dandi_instance=instance,
                jobs=1,
                jobs_per_file=PARTS_AT_ONCE,
            )
            with dandi_client(instance, api_key=api_key) as client:
                asset = client.get_dandiset(dandiset, "draft").get_asset_by_path(name)
                etag = asset.get_raw_digest()
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if refusals:  # what dandi-cli's validation found
            reason += f" ({'; '.join(refusals)})"
        return DandiFile(
            name, "failed", validated_by_dandi=not trusted, reason=f"{type(exc).__name__}: {reason}"
        )
    return DandiFile(name, "uploaded", asset.identifier, str(etag), not trusted)


class _Refusals(logging.Handler):
    """dandi-cli's log, kept from the terminal: the validation errors it logs when it refuses a
    file (each a ValidationResult among the record's arguments) become the failure's reason."""

    def __init__(self, found: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.found = found

    def emit(self, record: logging.LogRecord) -> None:
        args: tuple[Any, ...] = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if all(hasattr(arg, a) for a in ("id", "message", "severity")):
                self.found.append(f"{arg.id}: {' '.join(str(arg.message).split())}")


@contextlib.contextmanager
def _dandi_log(refusals: list[str]) -> Iterator[None]:
    """Meanwhile, dandi-cli's log goes only to `_Refusals`, which adds what it refused."""
    logger = logging.getLogger("dandi")
    handler = _Refusals(refusals)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
