"""The inspect stage: NWB files in, findings out; cached by content, run in parallel.

Findings come from nwbinspector (with pynwb validation), from dandi-cli's own asset-metadata
extraction (what `dandi upload` would reject) and from publishkit (what `dandi organize` needs).
They are cached by (file content hash, effective config, tool versions) in SQLite, so an
unchanged file is never inspected twice and concurrent runs cannot corrupt the cache.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import msgspec
from msgspec.structs import asdict, replace

from publishkit.errors import UsageError
from publishkit.inspection.pool import Inspecting, Task
from publishkit.local_files import shown
from publishkit.progress import Progress, no_progress
from publishkit.workspace.digests import DigestCache
from publishkit.workspace.executors import LOCAL, ExecutorSettings
from publishkit.workspace.inspection_settings import LEVELS, InspectionConfig, rank
from publishkit.workspace.nwb_summaries import SummaryCache
from publishkit.workspace.state import Batches, Inspections, StateStore

TOOLS = ("publishkit", "nwbinspector", "pynwb", "hdmf", "dandi", "dandischema")
RESULTS_VERSION = 4  # what a cached result holds: 2 keeps an unreadable file's whole traceback;
# 3 adds the archive's PublishedAsset validation; 4 names the file in messages as INSPECTED
INSPECTED = "{publishkit:inspected-file}"  # a cached message's file: the one inspected now
UNIQUE_IDENTIFIERS = "check_unique_identifiers"


class Finding(msgspec.Struct, frozen=True):
    """One message, in nwbinspector's fields plus where it came from."""

    message: str
    importance: str
    severity: str
    check_function_name: str
    object_type: str | None
    object_name: str | None
    location: str | None
    file_path: str
    source: str  # nwbinspector, dandi or publishkit
    suppressed_because: str | None = None
    # a cross-file finding's files, as inspected (its file_path is nwbinspector's: a bare name)
    file_paths: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        """The inspected files this finding is about."""
        return self.file_paths or (self.file_path,)

    def as_json(self) -> dict[str, Any]:
        optional = ("suppressed_because", "file_paths")
        document = {k: v for k, v in asdict(self).items() if k not in optional}
        if self.suppressed_because:
            document["suppressed_because"] = self.suppressed_because
        if self.file_paths:
            document["file_paths"] = list(self.file_paths)
        return document


class InspectedFile(msgspec.Struct, frozen=True):
    path: str  # as shown to the user
    readable: bool
    cached: bool


class InspectionReport(msgspec.Struct, frozen=True):
    files: tuple[InspectedFile, ...]
    findings: tuple[Finding, ...]  # active, most important first
    suppressed: tuple[Finding, ...]
    fail_on: str
    versions: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def failing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if rank(f.importance) <= rank(self.fail_on))

    @property
    def unreadable(self) -> tuple[InspectedFile, ...]:
        return tuple(f for f in self.files if not f.readable)

    @property
    def passed(self) -> bool:
        return not self.failing and not self.unreadable

    @property
    def failing_readable(self) -> tuple[Finding, ...]:
        """The findings at or above --fail-on about a readable file (an unreadable file's own
        are counted as that file being unreadable)."""
        readable = {f.path for f in self.files if f.readable}
        return tuple(f for f in self.failing if readable.intersection(f.files))

    @property
    def failing_files(self) -> tuple[str, ...]:
        """The readable files inspected with a finding at or above --fail-on, in their order."""
        named = {path for finding in self.failing_readable for path in finding.files}
        return tuple(f.path for f in self.files if f.readable and f.path in named)

    def failure_summary(self) -> str:
        """Why inspection failed, counted in inspected files: what the console, the reports and
        the release notes all say ('' when it passed)."""
        parts = []
        if self.failing_readable:
            parts.append(
                f"{len(self.failing_readable)} finding(s) at or above {self.fail_on} "
                f"in {len(self.failing_files)} file(s)"
            )
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable file(s)")
        return "; ".join(parts)


def tool_versions() -> dict[str, str]:
    versions = {}
    for tool in TOOLS:
        try:
            versions[tool] = version(tool)
        except PackageNotFoundError:
            versions[tool] = "absent"
    return versions


def start_inspection(
    *,
    files: list[Path],
    config: InspectionConfig,
    cache_dir: Path,
    fail_on: str = "CRITICAL",
    jobs: int = 1,
    dandi: bool = True,
    relative_to: Path | None = None,
    progress: Progress = no_progress,
    background: bool = False,
    executor: ExecutorSettings = LOCAL,
) -> PendingInspection:
    """Inspect `files`, re-using cached findings for content already inspected the same way:
    looks up the cache and starts inspecting the rest; `finish()` gives the report. With
    `background`, the files are inspected in worker processes while the caller goes on."""
    if fail_on not in LEVELS:
        raise UsageError(f"--fail-on {fail_on}: expected one of {', '.join(LEVELS)}")
    nwbinspector_config = config.nwbinspector_config()
    versions = tool_versions()
    key = json.dumps(
        {
            "config": nwbinspector_config,
            "dandi": dandi,
            "versions": versions,
            "results": RESULTS_VERSION,
        },
        sort_keys=True,
    )
    results: dict[Path, dict[str, Any]] = {}
    with StateStore.in_dir(cache_dir) as store:
        digests = DigestCache(store).get_all(files, executor, progress)
        hashes = {path: digests[path].blake2b for path in files}
        inspections = Inspections(store)
        for path in files:
            hit = inspections.result(hashes[path], key)
            if hit is not None:
                results[path] = _named(hit, path)
    todo = [p for p in files if p not in results]
    task = Task(nwbinspector_config, dandi, str(cache_dir / "specs"))
    return PendingInspection(
        files=files,
        config=config,
        cache_dir=cache_dir,
        fail_on=fail_on,
        versions=versions,
        key=key,
        hashes=hashes,
        results=results,
        shown={path: shown(path, relative_to) for path in files},
        inspecting=Inspecting(todo, task, jobs, background=background, executor=executor),
        progress=progress,
        dandi=dandi,
    )


class PendingInspection(msgspec.Struct):
    """An inspection under way: cached results known, the others arriving from `inspecting`."""

    files: list[Path]
    config: InspectionConfig
    cache_dir: Path
    fail_on: str
    versions: dict[str, str]
    key: str  # the configuration and tool versions results are cached under
    hashes: dict[Path, str]
    results: dict[Path, dict[str, Any]]  # cached so far
    shown: dict[Path, str]
    inspecting: Inspecting
    progress: Progress
    dandi: bool  # dandi-cli's asset-metadata checks ran

    def finish(self) -> InspectionReport:
        """Wait for the files being inspected, record their results, report on every file."""
        files, results, shown = self.files, self.results, self.shown
        cached = set(results)
        self.progress("Inspecting", len(cached), len(files))
        with StateStore.in_dir(self.cache_dir) as store, Batches(store) as batches:
            inspections, summaries = Inspections(store), SummaryCache(store)
            for path, result in self.inspecting.results():
                summary = result.pop("summary", None)  # the file's summary, from the same read
                content = self.hashes[path]
                if summary is not None:
                    batches.add(functools.partial(summaries.keep, content, summary))
                results[path] = result
                found = _anonymous(result, path)
                batches.add(functools.partial(inspections.keep_result, content, self.key, found))
                self.progress("Inspecting", 1, len(files))
        findings = [
            Finding(**entry, file_path=shown[path])
            for path in files
            for entry in _configured(results[path]["findings"], self.config)
        ]
        findings += _unique_identifiers(files, results, self.config, shown)
        active, suppressed = _apply_suppressions(findings, self.config)
        # the workspace's gate; and DANDI's, where these findings are those DANDI would make:
        # suppressed ones count, and nothing counts once the workspace changed the dandi config
        passed = _passes(files, results, active, shown, self.fail_on)
        exact = self.dandi and self.config.is_dandi_unchanged
        as_dandi = _passes(files, results, findings, shown, "CRITICAL") if exact else []
        _record_passes(self.cache_dir, self.hashes, passed, as_dandi)
        return InspectionReport(
            files=tuple(
                InspectedFile(shown[p], bool(results[p]["readable"]), p in cached) for p in files
            ),
            findings=tuple(sorted(active, key=_order)),
            suppressed=tuple(sorted(suppressed, key=_order)),
            fail_on=self.fail_on,
            versions=self.versions,
        )

    def cancel(self) -> None:
        """The caller gave up (it failed while the files were inspected): start nothing more."""
        self.inspecting.cancel()


def _passes(
    files: list[Path],
    results: dict[Path, dict[str, Any]],
    findings: list[Finding],
    shown: dict[Path, str],
    fail_on: str,
) -> list[Path]:
    """The readable files with no finding at or above `fail_on`; none when that bar is below
    DANDI's (CRITICAL), so that a pass always means DANDI's bar was met too."""
    if rank(fail_on) < rank("CRITICAL"):
        return []
    failing = {path for f in findings if rank(f.importance) <= rank(fail_on) for path in f.files}
    return [p for p in files if results[p]["readable"] and shown[p] not in failing]


def _record_passes(
    cache_dir: Path, hashes: dict[Path, str], passed: list[Path], as_dandi: list[Path]
) -> None:
    """Remember the contents that passed the workspace's gate, and those that passed DANDI's."""
    with StateStore.in_dir(cache_dir) as store:
        inspections = Inspections(store)
        inspections.mark_passed(hashes[p] for p in passed)
        inspections.mark_passed((hashes[p] for p in as_dandi), as_dandi_checks=True)


def _configured(findings: list[dict[str, Any]], config: InspectionConfig) -> list[dict[str, Any]]:
    """The workspace's importance changes and skips, applied to publishkit's and DANDI's checks
    too (nwbinspector applied them to its own while running)."""
    kept = []
    for entry in findings:
        if entry["source"] == "nwbinspector":
            kept.append(entry)
            continue
        level = config.level_of(entry["check_function_name"], entry["importance"])
        if level is not None:
            kept.append({**entry, "importance": level})
    return kept


def _unique_identifiers(
    files: list[Path],
    results: dict[Path, dict[str, Any]],
    config: InspectionConfig,
    shown: dict[Path, str],
) -> list[Finding]:
    """nwbinspector's cross-file check, with its exact message, from the identifiers read;
    naming every file it concerns as inspected (nwbinspector's file_path is a bare name)."""
    from natsort import natsorted

    level = config.level_of(UNIQUE_IDENTIFIERS, "CRITICAL")
    if level is None or len(files) < 2:
        return []
    by_identifier: dict[str, list[Path]] = {}
    for path in files:
        if results[path]["identifier"] is not None:
            by_identifier.setdefault(results[path]["identifier"], []).append(path)
    found = []
    for identifier, paths in by_identifier.items():
        if len(paths) > 1:
            paths = natsorted(paths, key=lambda p: p.name)
            names = [p.name for p in paths]
            found.append(
                Finding(
                    message=(
                        f"The identifier '{identifier}' is used across the .nwb files: {names}. "
                        "The identifier of any NWBFile should be a completely unique value - "
                        "we recommend using uuid4 to achieve this."
                    ),
                    importance=level,
                    severity="LOW",
                    check_function_name=UNIQUE_IDENTIFIERS,
                    object_type="NWBFile",
                    object_name="root",
                    location="/",
                    file_path=str(names[-1]),
                    source="nwbinspector",
                    file_paths=tuple(shown[p] for p in paths),
                )
            )
    return found


def _apply_suppressions(
    findings: list[Finding], config: InspectionConfig
) -> tuple[list[Finding], list[Finding]]:
    """Findings a rule of publishkit.yaml suppresses apart: a cross-file one when rules cover
    every file it is about."""
    active, suppressed = [], []
    for item in findings:
        rules = [config.suppression_for(item.check_function_name, path) for path in item.files]
        rule = rules[0] if all(rules) else None
        if rule is None:
            active.append(item)
        else:
            suppressed.append(replace(item, suppressed_because=rule.reason))
    return active, suppressed


def _order(item: Finding) -> tuple[int, str, str, str]:
    return (rank(item.importance), item.check_function_name, item.file_path, item.location or "")


def _anonymous(result: dict[str, Any], path: Path) -> dict[str, Any]:
    """The result as cached, for any file of the same content: its messages name the file
    (a traceback's 'path', its absolute path) as INSPECTED."""
    names = sorted({str(path), str(path.absolute()), str(path.resolve())}, key=len, reverse=True)

    def anonymous(text: str) -> str:
        for name in names[:1]:  # the absolute path, wherever it appears
            text = text.replace(name, INSPECTED)
        for name in names:  # the others where quoted, never inside another name
            for quote in "'\"":
                text = text.replace(f"{quote}{name}{quote}", f"{quote}{INSPECTED}{quote}")
        return text

    return _messages(result, anonymous)


def _named(result: dict[str, Any], path: Path) -> dict[str, Any]:
    """A cached result whose messages name `path`, the file inspected now."""
    return _messages(result, lambda text: text.replace(INSPECTED, str(path)))


def _messages(result: dict[str, Any], edit: Callable[[str], str]) -> dict[str, Any]:
    findings = [
        {**f, "message": edit(f["message"])} if isinstance(f.get("message"), str) else f
        for f in result.get("findings", [])
    ]
    return {**result, "findings": findings}
