"""The organize stage: the workspace's NWB files laid out in a dandiset folder, as DANDI names them.

Names come from dandi-cli's own naming code, applied to each file alone: a file's name never
depends on which other files are organized with it (dandi-cli's batch naming adds `_obj-…`
suffixes when two files would collide). A collision is an error that names the colliding files.
The mapping source -> dandiset path is recorded in the state store.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Literal

import msgspec

from publishkit.errors import WorkspaceError
from publishkit.formats.dandi_paths import ALLOWED, archive_refuses, culprit, refused_value
from publishkit.local_files import put_in_place, shown
from publishkit.progress import Progress, no_progress
from publishkit.tally import Tally
from publishkit.upstream import dandi_metadata_reader, organized_name, quiet_dandi
from publishkit.workspace.config import Settings
from publishkit.workspace.confined import inside
from publishkit.workspace.digests import DigestCache
from publishkit.workspace.nwb_files import workspace_nwb_files
from publishkit.workspace.runlock import exclusive_run
from publishkit.workspace.state import DandiNames, OrganizedPaths, StateStore

Action = Literal["created", "updated", "unchanged", "removed"]


class Organized(msgspec.Struct, frozen=True):
    """Where one NWB file went in the dandiset folder, and what organize did."""

    source: str  # relative to the workspace
    dandi_path: str  # relative to the dandiset folder
    action: Action


class OrganizeReport(Tally, msgspec.Struct, frozen=True):
    """Where each NWB file went in the dandiset folder."""

    ITEMS, OUTCOME = "files", "action"
    OUTCOMES = ("created", "updated", "unchanged", "removed")

    folder: str
    files: tuple[Organized, ...]

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "folder": self.folder,
            "counts": self.counts(),
            "files": self.items_json(),
        }


def source_files(settings: Settings) -> list[Path]:
    """The NWB files to organize: the workspace's own (see `workspace_nwb_files`)."""
    folder = settings.dandi.folder.resolve()
    return [p for p in workspace_nwb_files(settings) if not p.resolve().is_relative_to(folder)]


def dandi_names(
    files: list[Path], required: tuple[str, ...], store: StateStore | None = None
) -> dict[Path, str]:
    """Each file's DANDI path, from dandi-cli's metadata extraction and naming, file by file.
    With a store, a name is kept by content: an unchanged file is not read again."""
    from importlib.metadata import version

    setup = f"dandi {version('dandi')}; required {','.join(required)}"
    digests = DigestCache(store) if store is not None else None
    names: dict[Path, str] = {}
    missing: dict[str, list[str]] = {}
    for path in files:
        content = digests.get(path).blake2b if digests is not None else None
        kept = _kept_name(store, content, setup)
        if kept is not None:
            names[path] = kept
            continue
        metadata = _metadata(path)
        for field in required:
            if not metadata.get(field):
                missing.setdefault(field, []).append(path.name)
        if missing:
            continue
        names[path] = organized_name(metadata, required)
        if store is not None and content is not None:
            DandiNames(store).keep(content, setup, names[path])
    if missing:
        field, which = next(iter(missing.items()))
        raise WorkspaceError(
            f"{len(which)} file(s) lack {field}, which DANDI names need: {', '.join(which[:5])}",
            hint=f"set {field} in the files (or remove it from dandi.required_fields)",
        )
    _refuse_unpublishable(names)
    _refuse_collisions(names)
    return names


def _refuse_unpublishable(names: dict[Path, str]) -> None:
    """Refuse a name the archive's path rule refuses, naming the file and the value it came
    from: `dandi organize` would make it, and DANDI would refuse its upload."""
    for path, name in names.items():
        if not archive_refuses(name):
            continue
        source = refused_value(_metadata(path), name)
        came = f" (from {source[0]} {source[1]!r})" if source else ""
        field = source[0] if source else "the metadata it is named after"
        raise WorkspaceError(
            f"{path}: DANDI would refuse its dandiset path {name!r}: {culprit(name)} is not "
            f"allowed{came}; the archive allows only {ALLOWED}",
            hint=f"change {field} in the file (for a converted file, in the sessions table), "
            "then convert and organize again",
        )


def _kept_name(store: StateStore | None, content: str | None, setup: str) -> str | None:
    if store is None or content is None:
        return None
    return DandiNames(store).of(content, setup)


def _metadata(path: Path) -> dict[str, Any]:
    """dandi-cli's metadata of one file (not from dandi's own disk cache)."""
    with quiet_dandi():
        try:
            metadata = dict(dandi_metadata_reader()(str(path)))
        except Exception as exc:
            raise WorkspaceError(
                f"{path}: dandi-cli cannot read its metadata ({exc})",
                hint="run `publishkit inspect` on it",
            ) from None
    metadata["path"] = str(path)
    return metadata


def _refuse_collisions(names: dict[Path, str]) -> None:
    by_name: dict[str, list[Path]] = {}
    for path, name in names.items():
        by_name.setdefault(name, []).append(path)
    clashes = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    if clashes:
        name, paths = next(iter(sorted(clashes.items())))
        more = f" (and {len(clashes) - 1} more name(s))" if len(clashes) > 1 else ""
        raise WorkspaceError(
            f"{', '.join(str(p) for p in paths)} would all be named {name}{more}",
            hint="give each file its own subject_id/session_id",
        )


def organize_files(
    *, settings: Settings, wait: bool = False, progress: Progress = no_progress
) -> OrganizeReport:
    """The workspace's NWB files laid out in the dandiset folder as DANDI names them, the
    mapping recorded; one writing run of the workspace at a time."""
    with exclusive_run(settings.state_dir, "organize", wait=wait):
        return _organize(settings=settings, progress=progress)


def _organize(*, settings: Settings, progress: Progress = no_progress) -> OrganizeReport:
    dandi = settings.dandi
    inside(
        settings.workspace,
        dandi.folder,
        "dandi.folder",
        "give dandi.folder a folder inside the workspace",
    )
    files = source_files(settings)
    results: list[Organized] = []
    with StateStore.in_dir(settings.state_dir) as store:
        names = dandi_names(files, dandi.required_fields, store)
        digests = DigestCache(store)
        for path, name in names.items():
            target = dandi.folder / name
            action = _place(path, target, dandi.files_mode, digests)
            content = digests.get(target).blake2b
            OrganizedPaths(store).keep(shown(path, settings.workspace), name, content)
            results.append(Organized(shown(path, settings.workspace), name, action))
            progress("Organizing", 1, len(names))
        if dandi.files_mode != "move":  # moved files have no source left: never remove them
            current = {shown(p, settings.workspace) for p in names}
            results += _remove_stale(store, dandi.folder, current)
    _write_dandiset_yaml(dandi.folder, dandi.dandiset)
    return OrganizeReport(shown(dandi.folder, settings.workspace), tuple(results))


def _place(source: Path, target: Path, mode: str, digests: DigestCache) -> Action:
    existed = target.exists()
    if existed and mode in ("symlink", "hardlink"):
        same = target.resolve() == source.resolve() or os.path.samefile(target, source)
        if same:
            return "unchanged"
    elif existed and digests.get(target).blake2b == digests.get(source).blake2b:
        return "unchanged"
    with put_in_place(target) as partial:
        if mode == "copy":
            shutil.copy2(source, partial)
        elif mode == "hardlink":
            os.link(source, partial)
        elif mode == "symlink":
            os.symlink(source.resolve(), partial)
        else:  # move: the dandiset folder becomes the file's only home
            shutil.move(source, partial)
    return "updated" if existed else "created"


def _remove_stale(store: StateStore, folder: Path, current: set[str]) -> list[Organized]:
    """Files organized before whose source is gone leave the dandiset folder too."""
    removed = []
    paths = OrganizedPaths(store)
    for source, name in paths.paths().items():
        if source not in current:
            (folder / name).unlink(missing_ok=True)
            paths.forget(source)
            removed.append(Organized(source, name, "removed"))
    return removed


def _write_dandiset_yaml(folder: Path, dandiset: str | None) -> None:
    path = folder / "dandiset.yaml"
    if dandiset and not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"identifier: DANDI:{dandiset}\n", encoding="utf-8")
