"""`publishkit status`: each stage and each NWB file's state, on both sides of a release (the S3
release, and the DANDI version it was published with), from the workspace (no network)."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec.structs import asdict

from publishkit.errors import PublishkitError
from publishkit.formats import manifest
from publishkit.release.pipeline import STAGE_NAMES, enabled_stages
from publishkit.workspace.config import Settings
from publishkit.workspace.digests import DigestCache
from publishkit.workspace.nwb_files import workspace_nwb_files
from publishkit.workspace.state import DandiAssets, Inspections, OrganizedPaths, StateStore


class FileState(msgspec.Struct, frozen=True):
    """One NWB file's state: inspected, on DANDI, in the latest release."""

    path: str
    inspected: str  # passed / not passed
    dandi_path: str | None
    on_dandi: bool  # the uploaded asset has this content
    in_release: str | None  # latest local manifest version pinning this content
    in_dandi_version: str | None = None  # the DANDI version of that release, holding it too


class WorkspaceStatus(msgspec.Struct, frozen=True):
    """Each enabled stage, the latest release, and each NWB file's state."""

    enabled: tuple[str, ...]
    latest_release: str | None
    files: tuple[FileState, ...]
    dandi_version: dict[str, Any] | None = None  # the latest release's `dandi` record

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "enabled_stages": list(self.enabled),
            "latest_release": self.latest_release,
            "dandi_version": self.dandi_version,
            "files": [asdict(f) for f in self.files],
        }


def workspace_status(*, settings: Settings) -> WorkspaceStatus:
    """The workspace's status from its own records and files alone (no network)."""
    enabled = tuple(s for s in STAGE_NAMES if s in enabled_stages(settings))
    try:
        files = workspace_nwb_files(settings)
    except PublishkitError:
        files = []
    latest, pinned, dandi = _latest_release(settings)
    states = []
    with StateStore.in_dir(settings.state_dir) as store:
        digests = DigestCache(store)
        organized = OrganizedPaths(store).paths()
        assets = DandiAssets(store, settings.dandi.dandiset).all()
        inspections = Inspections(store)
        for path in files:
            rel = path.resolve().relative_to(settings.workspace).as_posix()
            content = digests.get(path).blake2b
            dandi_path = organized.get(rel)
            uploaded = assets.get(dandi_path or "")
            states.append(
                FileState(
                    path=rel,
                    inspected="passed" if inspections.passed(content) else "not passed",
                    dandi_path=dandi_path,
                    on_dandi=uploaded is not None and uploaded.blake2b == content,
                    in_release=latest if pinned.get(rel, ("",))[0] == content else None,
                    in_dandi_version=_in_dandi(dandi, pinned.get(rel), content),
                )
            )
    return WorkspaceStatus(enabled, latest, tuple(states), dandi)


def _in_dandi(
    dandi: dict[str, Any] | None, pinned: tuple[str, bool] | None, content: str
) -> str | None:
    """The DANDI version of the latest release when it holds this content as an asset."""
    if dandi is None or pinned is None or pinned != (content, True):
        return None
    return f"{dandi['dandiset_id']}/{dandi['version']}"


def _latest_release(
    settings: Settings,
) -> tuple[str | None, dict[str, tuple[str, bool]], dict[str, Any] | None]:
    """The newest local manifest's version; its data files' relpath -> (blake2b, whether it
    records their DANDI asset); and the DANDI version it records."""
    from publishkit.consume.export import latest_local_manifest
    from publishkit.formats.release_layout import MANIFESTS_FOLDER

    try:
        path = latest_local_manifest(settings.workspace / MANIFESTS_FOLDER)
    except PublishkitError:
        return None, {}, None
    document = manifest.load(path)
    pinned = {
        manifest.entry_relpath(e): (e["file_hash"], bool(e.get("dandi_asset_id")))
        for e in document["data_files"].values()
    }
    return document["manifest_version"], pinned, document.get("dandi")
