"""The dandiset's metadata (dandiset.yaml), checked offline the way the archive checks it at
publish: the fields the archive computes filled with placeholders, then dandischema's own
`validate(..., schema_key="PublishedDandiset", json_validation=True)`. Each problem names its
field, its line in dandiset.yaml and the fix (`metadata_fixes`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml

from publishkit.dandi.metadata_fixes import Finding, findings, with_schema_keys
from publishkit.errors import ConfigError
from publishkit.formats.dandi_computed import VERSION_COMPUTED
from publishkit.formats.yamlio import line_of, read_yaml
from publishkit.tally import Tally
from publishkit.workspace.config import CONFIG_NAME, Settings

# What the archive computes itself and strips from metadata it is sent, plus what it fills on
# every save: formats/dandi_computed.py, which the local archive strips too
COMPUTED = VERSION_COMPUTED
OPEN = "dandi:OpenAccess"
PLACEHOLDER_VERSION = "0.123456.1234"  # the form of a published version's id: 0.YYMMDD.HHMM


class ServerInfo(msgspec.Struct, frozen=True):
    """What an instance's /api/info/ says about the metadata it accepts."""

    schema_version: str | None
    licenses: tuple[str, ...] | None  # instance_config.licenses, when the server says

    @classmethod
    def from_json(cls, info: Any) -> ServerInfo:
        """From the JSON of /api/info/ (missing or odd fields: unknown)."""
        info = info if isinstance(info, dict) else {}
        config = info.get("instance_config")
        licenses = config.get("licenses") if isinstance(config, dict) else None
        version = info.get("schema_version")
        return cls(
            schema_version=version if isinstance(version, str) else None,
            licenses=tuple(sorted(map(str, licenses))) if isinstance(licenses, list) else None,
        )


class Problem(msgspec.Struct, frozen=True):
    """What the archive would refuse (an error) or what the check could not vouch for (a
    warning): the field, its line in dandiset.yaml, and the fix."""

    field: str  # e.g. contributor[0].name; "" for the whole file
    line: int
    message: str
    fix: str | None
    severity: str  # error or warning


class MetadataReport(Tally, msgspec.Struct, frozen=True):
    """The dandiset metadata file, checked as the archive checks it at publish."""

    ITEMS, OUTCOME, FAILED = "problems", "severity", "error"
    OUTCOMES = ("error", "warning")

    path: str
    schema_version: str  # the installed dandischema's, which the check used
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems the archive would refuse the dandiset for."""
        return tuple(p for p in self.problems if p.severity == "error")

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "path": self.path,
            "ok": self.ok,
            "schema_version": self.schema_version,
            "counts": self.counts(),
            "problems": self.items_json(),
        }


def metadata_path(settings: Settings) -> Path:
    """The workspace's dandiset metadata file; a ConfigError when publishkit.yaml names none."""
    if settings.dandi.metadata is None:
        raise ConfigError(
            f"{settings.workspace / CONFIG_NAME}: no dandi.metadata file is named",
            hint="add dandi: {metadata: dandiset.yaml} (`publishkit init` writes a starting "
            "dandiset.yaml)",
        )
    return settings.dandi.metadata


def load_metadata(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """The dandiset.yaml document and its node tree (for lines); a ConfigError names the file."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such dandiset metadata file (publishkit.yaml's dandi.metadata)",
            hint="create it (`publishkit init` writes a commented starting file) or fix "
            "dandi.metadata",
        )
    document, root = read_yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"{path}: expected a mapping of dandiset fields (name, description, contributor, "
            f"...), found {type(document).__name__}",
            hint="see the starting file `publishkit init` writes",
        )
    return document, root


def dandiset_document(document: dict[str, Any]) -> dict[str, Any]:
    """The metadata to send to the draft: the file's fields without those the archive
    computes, as a Dandiset of the installed schema version."""
    from dandischema.consts import DANDI_SCHEMA_VERSION

    kept = {k: v for k, v in document.items() if k not in COMPUTED and k != "schemaVersion"}
    kept = with_schema_keys(kept)
    return {**kept, "schemaKey": "Dandiset", "schemaVersion": DANDI_SCHEMA_VERSION}


def check_metadata(
    *, path: Path, dandiset: str | None, server: ServerInfo | None, instance: str | None = None
) -> MetadataReport:
    """dandiset.yaml checked offline as the archive checks a draft before it may be published;
    `server`: what the instance's /api/info/ said (None: not asked, or no answer)."""
    from dandischema.consts import DANDI_SCHEMA_VERSION

    document, root = load_metadata(path)
    problems = [
        _warning(root, (key,), f"{key} is ignored: {_why(key)}")
        for key in document
        if key in COMPUTED or key == "schemaVersion"
    ]
    problems += _server_warnings(server, instance, DANDI_SCHEMA_VERSION)
    licenses = server.licenses if server is not None else None
    archive_view = published_view(dandiset_document(document), dandiset or "000000")
    found = [_located(root, f) for f in findings(archive_view, licenses)]
    problems += sorted(found, key=lambda p: (p.line, p.field))
    return MetadataReport(str(path), DANDI_SCHEMA_VERSION, tuple(problems))


def published_view(metadata: dict[str, Any], dandiset: str) -> dict[str, Any]:
    """The metadata as the archive validates a draft at publish (Version._populate_metadata,
    then _build_validatable_version_metadata): what it computes filled with placeholders."""
    from dandischema.conf import get_instance_config

    config = get_instance_config()
    now = datetime.now(UTC).isoformat()
    web = str(config.instance_url or "https://dandiarchive.org").rstrip("/")
    ident = f"{config.instance_name}:{dandiset}"
    access = metadata.get("access")
    first = access[0] if isinstance(access, list) and access and isinstance(access[0], dict) else {}
    rest = access[1:] if isinstance(access, list) else []
    name = metadata.get("name")
    return {
        **metadata,
        "@context": "https://raw.githubusercontent.com/dandi/schema/master/releases/"
        f"{metadata['schemaVersion']}/context.json",
        "manifestLocation": [f"{web}/api/dandisets/{dandiset}/versions/draft/assets/"],
        "identifier": ident,
        "version": PLACEHOLDER_VERSION,
        "id": f"{ident}/{PLACEHOLDER_VERSION}",
        "repository": web,
        "url": f"{web}/dandiset/{dandiset}/{PLACEHOLDER_VERSION}",
        "dateCreated": now,
        "access": [{**first, "schemaKey": "AccessRequirements", "status": OPEN}, *rest],
        "assetsSummary": {"schemaKey": "AssetsSummary", "numberOfBytes": 1, "numberOfFiles": 1},
        "citation": f"{name} ({now[:4]}). (Version {PLACEHOLDER_VERSION}) [Data set].",
        "doi": f"{config.doi_prefix or '10.80507'}/{config.instance_name.lower()}.{dandiset}"
        f"/{PLACEHOLDER_VERSION}",
        "publishedBy": published_by(now),
        "datePublished": now,
    }


def published_by(now: str) -> dict[str, Any]:
    """A PublishActivity as the archive records it (PublishableMetadataMixin.published_by)."""
    from dandischema.conf import get_instance_config

    config = get_instance_config()
    software = {
        "id": uuid.uuid4().urn,
        "identifier": config.instance_identifier,
        "name": f"{config.instance_name} API",
        "version": "0.1.0",
        "schemaKey": "Software",
    }
    return {
        "id": uuid.uuid4().urn,
        "name": "DANDI publish",
        "startDate": now,
        "endDate": now,
        "wasAssociatedWith": [{k: v for k, v in software.items() if v is not None}],
        "schemaKey": "PublishActivity",
    }


def _server_warnings(server: ServerInfo | None, instance: str | None, ours: str) -> list[Problem]:
    if server is None:
        where = f"{instance} did not answer" if instance else "no dandi.instance is set"
        return [
            Problem(
                "",
                1,
                f"{where}: checked against the installed dandischema (schema {ours}) "
                "and its licenses, not the instance's",
                None,
                "warning",
            )
        ]
    if server.schema_version and server.schema_version != ours:
        return [
            Problem(
                "",
                1,
                f"{instance} uses DANDI schema {server.schema_version}, the installed dandischema "
                f"schema {ours}: the archive's verdict may differ from this check's",
                f"install the dandischema release of schema {server.schema_version}",
                "warning",
            )
        ]
    return []


def _located(root: yaml.Node | None, found: Finding) -> Problem:
    return Problem(
        _dotted(found.path), line_of(root, found.path), found.message, found.fix, "error"
    )


def _warning(root: yaml.Node | None, path: tuple[str | int, ...], message: str) -> Problem:
    return Problem(_dotted(path), line_of(root, path), message, f"remove {path[0]}", "warning")


def _why(key: str) -> str:
    if key == "schemaVersion":
        return "publishkit sends the installed dandischema's schema version"
    if key == "releaseNotes":
        return "the archive sets it from the notes publishkit sends with each publish"
    return "the archive computes it"


def _dotted(path: tuple[str | int, ...]) -> str:
    """contributor[0].name from ("contributor", 0, "name")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
