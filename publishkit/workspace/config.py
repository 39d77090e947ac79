"""The workspace configuration, `publishkit.yaml`, loaded and validated into frozen settings."""

from __future__ import annotations

import difflib
import ipaddress
import re
import string
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from msgspec.structs import replace

from publishkit.errors import ConfigError
from publishkit.formats.keys import KEY_FIX, key_problem
from publishkit.formats.schemas import load_schema, violations
from publishkit.formats.yamlio import key_line, line_of, read_yaml
from publishkit.workspace import CONFIG_NAME
from publishkit.workspace.config_paths import check_paths
from publishkit.workspace.executors import ExecutorSettings
from publishkit.workspace.inspection_settings import from_section
from publishkit.workspace.settings import (
    DEFAULT_PUBLIC_URL,
    LINDI_INDEX_MIN_MB,
    ConversionSettings,
    DandiSettings,
    S3Settings,
    Settings,
)
from publishkit.workspace.table_settings import from_section as tables_from_section

__all__ = [  # the settings' types are workspace/settings.py's, imported from here too
    "CONFIG_NAME",
    "LINDI_INDEX_MIN_MB",
    "ConversionSettings",
    "DandiSettings",
    "S3Settings",
    "Settings",
    "is_endpoint_url",
    "load_settings",
    "shown_url",
]

DEFAULT_REGION = "us-east-1"
PUBLIC_URL_PLACEHOLDERS = ("bucket", "region", "key")
_HOST_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*\.?")  # botocore's rule for a host


def load_settings(workspace: Path, *, default_region: str | None = None) -> Settings:
    """Read `<workspace>/publishkit.yaml`; a ConfigError names the key, the line and the fix.
    `default_region`: the region when s3.region is not set (the CLI passes AWS_REGION or
    AWS_DEFAULT_REGION); else us-east-1."""
    path = workspace / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            f"{path}: no {CONFIG_NAME} here",
            hint="run publishkit inside a workspace, or pass --workspace DIR",
        )
    document, root = read_yaml(path)
    if not isinstance(document, dict):
        found = type(document).__name__
        raise ConfigError(f"{path}: expected a mapping of settings, found {found}")
    _check_keys(document, path, root)
    problems = violations(document, "config")
    if problems:
        first = problems[0]
        unknown = _unknown_key(document, first.path, first.message)
        if unknown is not None:
            key, close = unknown
            where = f"in {first.dotted}" if first.path else "at the top level"
            maybe = f" (did you mean {close}?)" if close else ""
            raise ConfigError(
                f"{path} line {key_line(root, first.path, key)}: unknown key {key!r} "
                f"{where}{maybe}",
                hint=f"rename it to {close}"
                if close
                else "see `publishkit schema config` for the keys each section takes",
            )
        raise ConfigError(
            f"{path} line {line_of(root, first.path)}: {first.dotted}: {first.message}",
            hint="see `publishkit schema config` for the expected keys and values",
        )
    if isinstance(document.get("s3"), dict):
        _check_s3(document["s3"], path, root)
    if isinstance(document.get("dandi"), dict):
        _check_dandi(document["dandi"], path, root)
    check_paths(document, path, root, workspace.resolve())
    settings = _settings(workspace.resolve(), document, default_region or DEFAULT_REGION)
    released = tuple(name for name, _ in settings.metadata_files)
    specs = tables_from_section(
        document.get("tables"), released, lambda at: f"{path} line {line_of(root, at)}"
    )
    return replace(settings, tables=specs)


def _unknown_key(
    document: Any, at: tuple[str | int, ...], message: str
) -> tuple[str, str | None] | None:
    """For a violation of additionalProperties: the first unexpected key of the mapping at `at`
    and the known key closest to it (a typo), if any."""
    if not message.startswith("Additional properties are not allowed"):
        return None
    schema: Any = load_schema("config")
    for part in at:
        if not isinstance(part, str) or not isinstance(schema, dict):
            return None
        schema = schema.get("properties", {}).get(part)
        document = document.get(part) if isinstance(document, dict) else None
    if not isinstance(schema, dict) or not isinstance(document, dict):
        return None
    known = list(schema.get("properties", {}))
    unexpected = [k for k in document if k not in known]
    if not unexpected:
        return None
    key = str(unexpected[0])
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return key, close[0] if close else None


def _settings(workspace: Path, doc: dict[str, Any], region: str) -> Settings:
    data = doc.get("data_files", {})
    conversion = _conversion(doc["conversion"], workspace) if "conversion" in doc else None
    return Settings(
        workspace=workspace,
        project=doc["project"],
        s3_settings=_s3(doc["s3"], doc["project"], region) if "s3" in doc else None,
        inspection=from_section(doc.get("inspection"), workspace),
        fail_on=doc.get("inspection", {}).get("fail_on", "CRITICAL"),
        inspection_enabled="inspection" in doc,
        conversion_settings=conversion,
        dandi_settings=_dandi(doc.get("dandi", {}), workspace),
        executor=ExecutorSettings(**doc.get("executor", {})),
        metadata_files=_tables(doc, workspace, conversion),
        id_column=data.get("id_column", "file_id"),
        path_column=data.get("path_column", "file_path"),
        site=doc.get("site", True),
        lindi_index_min_mb=doc.get("lindi_index_min_mb", LINDI_INDEX_MIN_MB),
    )


def _tables(
    doc: dict[str, Any], workspace: Path, conversion: ConversionSettings | None
) -> tuple[tuple[str, Path], ...]:
    """The tables a release publishes: metadata_files, and the files table that convert writes
    (named after its file, e.g. nwb_files) unless it is listed already or opted out of."""
    tables = [(name, workspace / rel) for name, rel in doc.get("metadata_files", {}).items()]
    release_it = doc.get("conversion", {}).get("release_files_table", True)
    if conversion is not None and release_it:
        listed = {path.resolve() for _, path in tables}
        name = conversion.files_table.stem
        if conversion.files_table.resolve() in listed:
            return tuple(tables)
        if name in dict(tables):
            raise ConfigError(
                f"metadata_files.{name} names {dict(tables)[name]}, but a release also publishes "
                f"conversion's files table {conversion.files_table.name} as table {name!r}",
                hint="rename that table, or set conversion.release_files_table: false",
            )
        tables.append((name, conversion.files_table))
    return tuple(tables)


def _conversion(section: dict[str, Any], workspace: Path) -> ConversionSettings:
    templates_dir = section.get("templates_dir")
    return ConversionSettings(
        template=section["template"],
        sessions=workspace / section.get("sessions", "sessions.csv"),
        output_dir=workspace / section.get("output_dir", "nwb"),
        files_table=workspace / section.get("files_table", "nwb_files.csv"),
        templates_dir=workspace / templates_dir if templates_dir else None,
    )


def _dandi(section: dict[str, Any], workspace: Path) -> DandiSettings:
    return DandiSettings(
        folder=workspace / section.get("folder", "dandiset"),
        instance=section.get("instance"),
        dandiset=section.get("dandiset"),
        files_mode=section.get("files_mode", "copy"),
        required_fields=tuple(section.get("required_fields", ("subject_id", "session_id"))),
        metadata=workspace / section["metadata"] if "metadata" in section else None,
        publish=section.get("publish", False),
    )


def _check_keys(document: dict[str, Any], path: Path, root: yaml.Node | None) -> None:
    """Refuse a project, s3.prefix or table name that is not a clean relative S3 key (each
    becomes part of every key a release writes), before the schema says less plainly why."""
    named: list[tuple[tuple[str, ...], str, Any]] = [
        (("project",), "project:", document.get("project"))
    ]
    s3 = document.get("s3")
    if isinstance(s3, dict):
        named.append((("s3", "prefix"), "s3.prefix:", s3.get("prefix")))
    tables = document.get("metadata_files")
    if isinstance(tables, dict):
        named += [(("metadata_files", name), "metadata_files: table name", name) for name in tables]
    for at, what, value in named:
        problem = key_problem(value) if isinstance(value, str) else None
        if problem is not None:
            raise ConfigError(
                f"{path} line {line_of(root, at)}: {what} {value!r} {problem}; it becomes part "
                "of S3 keys, so it must be a clean relative key",
                hint=KEY_FIX,
            )


def _check_dandi(dandi: dict[str, Any], path: Path, root: yaml.Node | None) -> None:
    """What the schema does not say of dandi.publish: it needs the dandiset and its metadata."""
    if not dandi.get("publish"):
        return
    missing = [key for key in ("instance", "dandiset", "metadata") if not dandi.get(key)]
    if missing:
        raise ConfigError(
            f"{path} line {line_of(root, ('dandi', 'publish'))}: dandi.publish needs "
            f"dandi.{', dandi.'.join(missing)}",
            hint="e.g. dandi: {instance: dandi-sandbox, dandiset: '000123', metadata: "
            "dandiset.yaml, publish: true} (`publishkit init` writes a starting dandiset.yaml)",
        )


def _s3(s3: dict[str, Any], project: str, region: str) -> S3Settings:
    return S3Settings(
        bucket=s3["bucket"],
        prefix=s3.get("prefix", project),
        region=s3.get("region", region),
        endpoint_url=s3.get("endpoint_url"),
        public_url=s3.get("public_url", DEFAULT_PUBLIC_URL),
        multipart_threshold=s3.get("multipart_threshold_mb", 64) * 1024 * 1024,
        max_concurrency=s3.get("max_concurrency", 10),
        part_size=s3["part_size_mb"] * 1024 * 1024 if "part_size_mb" in s3 else None,
    )


def _check_s3(s3: dict[str, Any], path: Path, root: yaml.Node | None) -> None:
    """What the schema cannot say of s3.endpoint_url and s3.public_url; a ConfigError if wrong."""
    endpoint = s3.get("endpoint_url")
    if endpoint is not None and not is_endpoint_url(endpoint):
        raise ConfigError(
            f"{path} line {line_of(root, ('s3', 'endpoint_url'))}: s3.endpoint_url: "
            f"{shown_url(endpoint)!r} is not an S3 endpoint URL (expected http(s)://HOST[:PORT])",
            hint="set it to the S3 server's URL, e.g. http://localhost:9000, or remove it "
            "to use AWS",
        )
    problem = public_url_problem(s3.get("public_url", DEFAULT_PUBLIC_URL))
    if problem:
        raise ConfigError(
            f"{path} line {line_of(root, ('s3', 'public_url'))}: s3.public_url: {problem}",
            hint="use only the placeholders {bucket}, {region} and {key}; write a literal "
            "brace as {{ or }}",
        )


def public_url_problem(template: str) -> str | None:
    """What is wrong with a public_url template's placeholders, or None when they are right."""
    try:
        fields = [part[1:] for part in string.Formatter().parse(template) if part[1] is not None]
    except ValueError as exc:  # a stray { or }
        return f"a stray brace ({exc})"
    for name, spec, conversion in fields:
        if name not in PUBLIC_URL_PLACEHOLDERS:
            return f"unknown placeholder {{{name}}}"
        if spec or conversion:
            return f"placeholder {{{name}}} must be plain, without a !conversion or :format"
    if "key" not in {name for name, _, _ in fields}:
        return "no {key} placeholder, so every file would get the same URL"
    return None


def is_endpoint_url(url: str) -> bool:
    """Whether `url` can be an S3 endpoint: http or https, a host name or IP, maybe a port."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or any(c.isspace() for c in url):
        return False
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number or too big)
    except ValueError:
        return False
    host = parts.hostname or ""
    return bool(_HOST_NAME.fullmatch(host)) or _is_ip(host)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def shown_url(url: str) -> str:
    """`url` fit for a message: any user:password@ before the host is hidden."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    netloc, slash, path = rest.partition("/")
    if "@" not in netloc:
        return url
    return f"{scheme}{sep}***@{netloc.rpartition('@')[2]}{slash}{path}"
