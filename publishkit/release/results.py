"""What a run of `publishkit release` reports: each stage's result, and the S3 release."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from publishkit.formats.comparison import Comparison
from publishkit.workspace.settings import METADATA, StageName, StopReason

if TYPE_CHECKING:
    from publishkit.dandi.metadata import MetadataReport
    from publishkit.dandi.organize import OrganizeReport
    from publishkit.dandi.upload import DandiUploadReport
    from publishkit.dandi.version_publish import PublishReport
    from publishkit.inspection.inspect_files import InspectionReport
    from publishkit.nwb.convert import ConversionReport
    from publishkit.release.manifest_and_notes import ManifestResult, NotesResult
    from publishkit.release.s3_upload import S3UploadResult
    from publishkit.workspace.table_checks import TableCheckReport


class ReleaseResult(msgspec.Struct, frozen=True):
    """The S3 release of a run: what was uploaded, the manifest published, its notes."""

    version: str | None  # None when nothing changed
    previous_version: str | None
    comparison: Comparison | None
    uploaded: tuple[str, ...]  # relpaths sent to the bucket (or adopted after a crash)
    unchanged: int
    manifest_url: str | None
    manifest_path: str | None
    notes_repaired: bool = False  # notes (or their local copy) a dead run left out, written
    uploaded_earlier: int = 0  # new or changed files an earlier run uploaded (`--to upload`)
    page_url: str | None = None  # the release's page beside its manifest (None: not this run)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "status": "released" if self.version else "unchanged",
            "version": self.version,
            "previous_version": self.previous_version,
            "uploaded": list(self.uploaded),
            "unchanged": self.unchanged,
            "manifest_url": self.manifest_url,
            "manifest_path": self.manifest_path,
            "notes_repaired": self.notes_repaired,
            "uploaded_earlier": self.uploaded_earlier,
            "page_url": self.page_url,
            "changes": self.comparison.as_json() if self.comparison else None,
        }


class PipelineResult(msgspec.Struct):
    """What a run of the pipeline did: each stage's report, and the stage that stopped it.
    The run's stages fill it as they go (`Run.result`); `run_release` returns it once the run
    has ended, and nothing changes it after."""

    stages: tuple[StageName, ...]  # the stages that ran (or were to run, when one stopped the run)
    conversion: ConversionReport | None = None
    inspection: InspectionReport | None = None
    tables: TableCheckReport | None = None  # the checks of publishkit.yaml's tables: section
    organized: OrganizeReport | None = None
    dandi: DandiUploadReport | None = None
    dandiset_metadata: MetadataReport | None = None
    published: PublishReport | None = None
    s3_upload: S3UploadResult | None = None
    manifest: ManifestResult | None = None
    notes: NotesResult | None = None
    stopped: StopReason | None = (
        None  # what stopped it: METADATA, convert, inspect, upload, publish
    )
    overridden: str | None = None  # the reason given to publish despite failed inspection
    skipped: tuple[str, ...] = ()  # selected but not enabled by the workspace
    seconds: dict[str, float] = msgspec.field(
        default_factory=dict
    )  # wall time of each stage that ran
    warnings: tuple[str, ...] = ()  # what the engineer should see before it is permanent

    @property
    def gated(self) -> bool:
        """Inspection (of the NWB files or the tables) failed and stopped the release."""
        return self.stopped == StageName.INSPECT

    @property
    def stopped_by_conversion(self) -> bool:
        """A row failed to convert: nothing after convert ran."""
        return self.stopped == StageName.CONVERT

    @property
    def stopped_by_dandi(self) -> bool:
        """The DANDI upload failed: nothing was published on S3."""
        return self.stopped == StageName.UPLOAD

    @property
    def stopped_by_metadata(self) -> bool:
        """dandiset.yaml has what the archive would refuse at publish: nothing ran."""
        return self.stopped == METADATA

    @property
    def stopped_by_publish(self) -> bool:
        """The archive would not publish the draft: nothing was published on S3."""
        return self.stopped == StageName.PUBLISH

    @property
    def ok(self) -> bool:
        """No stage stopped the run and none reported a failure."""
        reports = (self.conversion, self.dandi, self.published)
        return self.stopped is None and all(report is None or report.ok for report in reports)

    @property
    def release(self) -> ReleaseResult | None:
        """The S3 release, when this run published (or found nothing to publish)."""
        manifest = self.manifest
        if manifest is None:
            return None
        upload = self.s3_upload
        uploaded = upload.uploaded if upload else ()
        total = len(_files(manifest.document))
        comparison = manifest.comparison
        new = sum(c.kind != "deleted" for c in comparison.changes) if comparison else 0
        earlier = 0 if upload else new
        unchanged = upload.unchanged if upload else total - new
        notes = self.notes
        return ReleaseResult(
            version=manifest.version,
            previous_version=manifest.previous_version,
            comparison=manifest.comparison,
            uploaded=uploaded,
            unchanged=unchanged,
            manifest_url=manifest.manifest_url,
            manifest_path=manifest.manifest_path,
            uploaded_earlier=earlier,
            notes_repaired=bool(
                manifest.repaired
                or (notes and (notes.repaired or (notes.written and not manifest.version)))
            ),
            page_url=notes.page_url if notes else None,
        )

    def failure(self) -> tuple[str, str] | None:
        """Why the run stopped before publishing, and the fix; None when nothing stopped it."""
        if self.stopped is None:
            return None
        return _FAILURES.get(self.stopped, _FAILURES[StageName.UPLOAD])

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts; with `error`, `hint` and
        `exit_code` when the run stopped, as every refusal has them."""
        release = self.release
        return {
            "ok": self.ok,
            "stages": list(self.stages),
            "skipped": list(self.skipped),
            "gated_by_inspection": self.gated,
            "stopped_by_conversion": self.stopped_by_conversion,
            "stopped_by_dandi": self.stopped_by_dandi,
            "stopped_by_metadata": self.stopped_by_metadata,
            "stopped_by_publish": self.stopped_by_publish,
            "inspection_override": self.overridden,
            "convert": self.conversion.as_json() if self.conversion else None,
            "inspect": _inspection_json(self.inspection, self.gated),
            "tables": self.tables.as_json() if self.tables else None,
            "organize": self.organized.as_json() if self.organized else None,
            "dandi": self.dandi.as_json() if self.dandi else None,
            "dandiset_metadata": _json(self.dandiset_metadata),
            "publish": _json(self.published),
            "s3_upload": self.s3_upload.as_json() if self.s3_upload else None,
            "release": release.as_json() if release else None,
            "notes": self.notes.as_json() if self.notes else None,
            "seconds": self.seconds,
            "warnings": list(self.warnings),
            **(
                {"error": failure[0], "hint": failure[1], "exit_code": 1}
                if (failure := self.failure())
                else {}
            ),
        }


_FAILURES: dict[StopReason, tuple[str, str]] = {
    StageName.CONVERT: (
        "a row failed to convert, so nothing was organized or uploaded",
        "correct the rows named above and run the release again",
    ),
    METADATA: (
        "the archive would refuse to publish this dandiset metadata, so nothing was uploaded",
        "correct the lines named above; `publishkit dandi metadata check` checks again",
    ),
    StageName.INSPECT: (
        "inspection failed, so nothing was uploaded",
        "correct the files or tables named above, or pass --publish-despite-inspection REASON",
    ),
    StageName.UPLOAD: (
        "the DANDI upload failed, so nothing was published to S3",
        "correct the cause named above and run the release again; finished uploads are re-used",
    ),
    StageName.PUBLISH: (
        "DANDI did not publish the draft, so nothing was published to S3",
        "correct the cause named above and run the release again; uploads are re-used",
    ),
}


def _inspection_json(report: Any, gated: bool) -> Any:
    """The inspection's header; with its findings when they stopped the release. Its report's
    modules (jsonschema, the inspection's pool: ~0.1 s) imported only for a run that
    inspected."""
    if report is None:
        return None
    from publishkit.inspection.report import as_json as render

    document = render(report)
    return {**document["header"], "messages": document["messages"]} if gated else document["header"]


def _json(report: Any) -> Any:
    return report.as_json() if report is not None else None


def _files(document: Any) -> list[Any]:
    if not document:
        return []
    return [*document["metadata_files"].values(), *document["data_files"].values()]
