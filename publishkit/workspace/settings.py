"""The settings a workspace's publishkit.yaml gives, as frozen values, and which stages of a
release they enable: the stage names as a typed value (StageName), one property per stage on
Settings. workspace/config.py reads publishkit.yaml into these."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Final, Literal

import msgspec

from publishkit.errors import ConfigError
from publishkit.workspace import CONFIG_NAME
from publishkit.workspace.executors import LOCAL, ExecutorSettings
from publishkit.workspace.inspection_settings import InspectionConfig
from publishkit.workspace.table_settings import TableSpec


class StageName(StrEnum):
    """The stages of `publishkit release`, in their order."""

    CONVERT = "convert"
    INSPECT = "inspect"
    ORGANIZE = "organize"
    UPLOAD = "upload"
    PUBLISH = "publish"
    MANIFEST = "manifest"
    NOTES = "notes"


# Why a run stopped before its first stage: dandiset metadata the archive would refuse. A
# reason a run stops, not a stage: no --from, --to or --only names it.
METADATA: Final = "metadata"
StopReason = StageName | Literal["metadata"]

_ENABLED_BY: dict[StageName, str] = {
    StageName.CONVERT: "converts",
    StageName.INSPECT: "inspects",
    StageName.ORGANIZE: "organizes",
    StageName.UPLOAD: "uploads",
    StageName.PUBLISH: "publishes",
    StageName.MANIFEST: "writes_manifest",
    StageName.NOTES: "writes_notes",
}


DEFAULT_PUBLIC_URL = "https://{bucket}.s3.{region}.amazonaws.com/{key}"


# An index costs ~0.1 s a file to build; it saves a reader the HDF5 metadata's many small
# reads, which matter for a large file (a small one streams whole in a request or two).
LINDI_INDEX_MIN_MB = 16.0


class S3Settings(msgspec.Struct, frozen=True):
    """Where releases go: the bucket, prefix, region, endpoint, URL form and part size."""

    bucket: str
    prefix: str
    region: str
    endpoint_url: str | None = None
    public_url: str = DEFAULT_PUBLIC_URL
    multipart_threshold: int = 64 * 1024 * 1024
    max_concurrency: int = 10  # requests in flight at once: files, and a large file's parts
    part_size: int | None = None  # None: chosen per file (s3.transfer.TransferSettings)

    def key(self, relpath: str) -> str:
        """The object key of a path under the release prefix."""
        return f"{self.prefix}/{relpath}"


class ConversionSettings(msgspec.Struct, frozen=True):
    """How convert works: the template, the sessions table, where NWB files go, the files table."""

    template: str
    sessions: Path
    output_dir: Path
    files_table: Path
    templates_dir: Path | None = None


class DandiSettings(msgspec.Struct, frozen=True):
    """Where organize lays files out, which DANDI instance and dandiset the upload sends them
    to, the dandiset's metadata file, and whether a release publishes a DANDI version."""

    folder: Path
    instance: str | None = None
    dandiset: str | None = None
    files_mode: str = "copy"
    required_fields: tuple[str, ...] = ("subject_id", "session_id")
    metadata: Path | None = None  # dandiset.yaml: the dandiset's metadata (dandischema's model)
    publish: bool = False


class Settings(msgspec.Struct, frozen=True):
    """A workspace's publishkit.yaml, validated: every section as settings."""

    workspace: Path
    project: str
    s3_settings: S3Settings | None
    metadata_files: tuple[tuple[str, Path], ...]
    id_column: str = "file_id"
    path_column: str = "file_path"
    inspection: InspectionConfig = msgspec.field(default_factory=InspectionConfig)
    fail_on: str = "CRITICAL"
    inspection_enabled: bool = False  # an `inspection:` section is present
    conversion_settings: ConversionSettings | None = None
    dandi_settings: DandiSettings | None = None
    executor: ExecutorSettings = LOCAL
    tables: tuple[TableSpec, ...] = ()  # the tables: section
    site: bool = True  # site: publish the release site beside the manifests
    # lindi_index_min_mb: HDF5 NWB files this large get a LINDI index (None: none does)
    lindi_index_min_mb: float | None = LINDI_INDEX_MIN_MB

    @property
    def tables_checked(self) -> bool:
        """The tables: section asks for a check of some table."""
        return any(spec.checked for spec in self.tables)

    def table_keys(self) -> dict[str, tuple[str, ...]]:
        """Each table's declared key (tables.<name>.key), for the release notes."""
        return {spec.name: spec.key for spec in self.tables if spec.key}

    @property
    def dandi(self) -> DandiSettings:
        """The dandi section (its defaults when there is none)."""
        return self.dandi_settings or DandiSettings(folder=self.workspace / "dandiset")

    # Which stages publishkit.yaml enables: one property each, the only place it is decided
    # (the release, its plan and preflight, status, the stage commands all ask these).

    @property
    def dandi_enabled(self) -> bool:
        """The workspace uploads to DANDI: its dandi: section names an instance and a dandiset."""
        return self.dandi_target is not None

    @property
    def dandi_target(self) -> tuple[str, str] | None:
        """The DANDI instance and dandiset the workspace uploads to; None when it names none."""
        dandi = self.dandi
        return (dandi.instance, dandi.dandiset) if dandi.instance and dandi.dandiset else None

    @property
    def s3_enabled(self) -> bool:
        """The workspace releases to S3: it has an s3: section."""
        return self.s3_settings is not None

    @property
    def converts(self) -> bool:
        """convert: a conversion: section."""
        return self.conversion_settings is not None

    @property
    def inspects_files(self) -> bool:
        """inspect looks at the NWB files: an inspection: or a conversion: section."""
        return self.converts or self.inspection_enabled

    @property
    def inspects(self) -> bool:
        """inspect: it inspects the files or checks a table."""
        return self.inspects_files or self.tables_checked

    @property
    def organizes(self) -> bool:
        """organize: the workspace uploads to DANDI."""
        return self.dandi_enabled

    @property
    def uploads(self) -> bool:
        """upload: to DANDI, to S3, or both."""
        return self.dandi_enabled or self.s3_enabled

    @property
    def publishes(self) -> bool:
        """publish: a DANDI version, with dandi.publish and an instance and dandiset."""
        return self.dandi_enabled and self.dandi.publish

    @property
    def writes_manifest(self) -> bool:
        """manifest: the workspace releases to S3."""
        return self.s3_enabled

    @property
    def writes_notes(self) -> bool:
        """notes: the workspace releases to S3."""
        return self.s3_enabled

    def enables(self, stage: StageName) -> bool:
        """Whether publishkit.yaml enables `stage` (its property above)."""
        return bool(getattr(self, _ENABLED_BY[stage]))

    @property
    def conversion(self) -> ConversionSettings:
        """The conversion section; a ConfigError for `convert` when it is absent."""
        if self.conversion_settings is None:
            raise ConfigError(
                f"{self.workspace / CONFIG_NAME}: no conversion section",
                hint="add conversion: {template: NAME}, or start with `publishkit init DIR "
                "--template NAME`",
            )
        return self.conversion_settings

    @property
    def state_dir(self) -> Path:
        """The workspace's `.publishkit/` folder: its state store, locks and caches."""
        return self.workspace / ".publishkit"

    @property
    def s3(self) -> S3Settings:
        """The S3 section; a ConfigError for stages that need it when it is absent."""
        if self.s3_settings is None:
            raise ConfigError(
                f"{self.workspace / CONFIG_NAME}: no s3 section; releases need a bucket",
                hint="add s3: {bucket: ..., region: ...} to publishkit.yaml",
            )
        return self.s3_settings
