"""Inspection of one NWB file, run in worker processes: nwbinspector, pynwb validation, DANDI.

Findings match what `nwbinspector` reports for the file, computed faster. nwbinspector reads a
file twice (its checks; pynwb's validation) and dandi-cli a third time, and every read reloads the
schema specifications cached in the file, which dominates the time per file. Here a worker loads
each distinct cached specification once, reads each file once, validates that read's builder with
cached validators, runs nwbinspector's checks on its NWBFile and hands the same NWBFile to
dandi-cli's metadata extraction. A file without cached specifications, or one this path cannot
handle, goes through the tools' own reads instead (`_inspect_separately`).
"""

from __future__ import annotations

import json
import traceback
import warnings
from typing import Any

from publishkit.inspection.published_asset import CHECK, published_asset_problems
from publishkit.inspection.specs import Spec, load_spec
from publishkit.upstream import (
    asset_model,
    dandi_metadata_reader,
    dandi_reads,
    quiet_dandi,
    read_nwbfile_and_io,
)
from publishkit.workspace.nwb_summaries import summarize_open

ORGANIZE_SUBJECT = "check_dandi_organize_subject_id"
ORGANIZE_SESSION = "check_dandi_organize_session_id"
DANDI_METADATA = "check_dandi_asset_metadata"
READ_ERROR = "During io.read(),"  # how nwbinspector names the finding of an unreadable file


_CHECKS: dict[str, list[Any]] = {}


def finding(
    message: str,
    importance: str,
    check: str,
    *,
    source: str,
    severity: str = "LOW",
    object_type: str | None = None,
    object_name: str | None = None,
    location: str | None = None,
) -> dict[str, Any]:
    """One message in nwbinspector's fields, without file_path (added by the caller)."""
    return {
        "message": message,
        "importance": importance,
        "severity": severity,
        "check_function_name": check,
        "object_type": object_type,
        "object_name": object_name,
        "location": location,
        "source": source,
    }


def inspect_batch(
    paths: list[str], config: dict[str, list[str]] | None, dandi: bool, specs_dir: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """Several files in one task: files sharing a specification load it once."""
    return [(path, inspect_path(path, config, dandi, specs_dir)) for path in paths]


def inspect_path(
    path: str, config: dict[str, list[str]] | None, dandi: bool, specs_dir: str | None = None
) -> dict[str, Any]:
    """Everything inspection learns from one file: its identifier, findings, DANDI fields and
    its summary (from the same open file). `specs_dir` keeps loaded specifications across runs
    (see `load_spec`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = _inspect_open(path, config, dandi, specs_dir)
        return found if found is not None else _inspect_separately(path, config, dandi)


def _inspect_open(
    path: str, config: dict[str, list[str]] | None, dandi: bool, specs_dir: str | None
) -> dict[str, Any] | None:
    """The file opened once with h5py, and everything read from that open file: its cached
    specification, pynwb's validation and nwbinspector's checks, dandi-cli's metadata, the
    summary. None when this path cannot handle it (then the tools' own reads report why)."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except Exception:
        return None  # not HDF5, truncated...
    with handle:
        try:
            spec = load_spec(path, specs_dir, handle)
        except Exception:
            return None
        if spec is None:
            return None  # no cached specification to validate against
        try:
            return _inspect_once(path, handle, spec, config, dandi)
        except Exception:
            return None  # whatever failed, the tools' own reads report it their way


def _inspect_once(
    path: str, handle: Any, spec: Spec, config: dict[str, list[str]] | None, dandi: bool
) -> dict[str, Any]:
    from hdmf.build import BuildManager
    from nwbinspector import inspect_nwbfile_object
    from pynwb import NWBHDF5IO

    findings = []
    with NWBHDF5IO(file=handle, mode="r", manager=BuildManager(spec.read_types)) as io:
        builder = io.read_builder()
        for namespace in spec.namespaces:
            findings += [
                _validation_finding(e) for e in spec.validators[namespace].validate(builder)
            ]
        nwbfile = io.read()
        for message in inspect_nwbfile_object(nwbfile_object=nwbfile, checks=_checks(config)):
            findings.append(_inspector_finding(message))
        if dandi:
            with dandi_reads(nwbfile, handle):
                findings += _dandi(path)
        identifier = str(nwbfile.identifier)
        summary = summarize_open(io)
    return {"identifier": identifier, "readable": True, "findings": findings, "summary": summary}


def _inspect_separately(
    path: str, config: dict[str, list[str]] | None, dandi: bool
) -> dict[str, Any]:
    """Exactly nwbinspector's `inspect_nwbfile` steps, then dandi-cli's own read."""
    import pynwb
    from nwbinspector import inspect_nwbfile_object

    findings: list[dict[str, Any]] = []
    io = None
    failed: Exception | None = None
    summary = None
    try:
        nwbfile, io = read_nwbfile_and_io(path)
        identifier = str(nwbfile.identifier)
        summary = summarize_open(io)
        findings += [_validation_finding(e) for e in pynwb.validate(path=path)]
        for message in inspect_nwbfile_object(nwbfile_object=nwbfile, checks=_checks(config)):
            findings.append(_inspector_finding(message))
    except Exception as exc:  # nwbinspector's own rule: an unreadable file is one ERROR
        failed = exc
    finally:
        if io is not None:
            io.close()
    if failed is not None:  # outside the handler: nwbinspector's traceback is not chained to it
        return _unreadable(path, config, failed)
    if dandi:
        findings += _dandi(path)
    return {"identifier": identifier, "readable": True, "findings": findings, "summary": summary}


def _unreadable(path: str, config: dict[str, list[str]] | None, exc: Exception) -> dict[str, Any]:
    """nwbinspector's own report of a file it cannot read: the ERROR whose message is the whole
    traceback, through nwbinspector's frames, as its JSON report has it."""
    from nwbinspector import inspect_nwbfile

    try:
        found = [
            _inspector_finding(m)
            for m in inspect_nwbfile(nwbfile_path=path, checks=_checks(config))
        ]
    except Exception:  # e.g. a Zarr file without hdmf-zarr, which nwbinspector raises about
        found = []
    if not any(f["check_function_name"].startswith(READ_ERROR) for f in found):
        name = f"{type(exc).__module__}.{type(exc).__name__}"
        check = (
            f"{READ_ERROR} an error occurred: {name}. This indicates that PyNWB was unable "
            "to read the file. See the traceback message for more details."
        )
        message = "".join(traceback.format_exception(exc))
        found.append(finding(message, "ERROR", check, source="nwbinspector"))
    return {"identifier": None, "readable": False, "findings": found, "summary": None}


def _validation_finding(error: Any) -> dict[str, Any]:
    return finding(
        error.reason,
        "PYNWB_VALIDATION",
        error.name,
        source="nwbinspector",
        location=error.location,
    )


def _inspector_finding(message: Any) -> dict[str, Any]:
    return finding(
        message.message,
        message.importance.name,
        message.check_function_name,
        source="nwbinspector",
        severity=message.severity.name,
        object_type=message.object_type,
        object_name=message.object_name,
        location=message.location,
    )


def _checks(config: dict[str, list[str]] | None) -> list[Any]:
    from nwbinspector import Importance, configure_checks

    key = json.dumps(config, sort_keys=True)
    if key not in _CHECKS:
        _CHECKS[key] = configure_checks(
            config=config, importance_threshold=Importance.BEST_PRACTICE_SUGGESTION
        )
    return _CHECKS[key]


def _dandi(path: str) -> list[dict[str, Any]]:
    """What `dandi upload` would reject in the asset metadata, and what `dandi organize` needs."""
    with quiet_dandi():  # its warnings repeat our findings; it prints to the report's channel
        metadata, problems = _dandi_metadata(path, dandi_metadata_reader())
    if metadata is None:
        return problems
    return problems + _organize_findings(metadata)


def _dandi_metadata(path: str, extract: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """dandi-cli's `nwb2asset` steps, then the schema check `dandi upload` applies."""
    from dandischema.models import BareAsset
    from pydantic import ValidationError

    def problem(message: str) -> dict[str, Any]:
        return finding(
            message,
            "CRITICAL",
            DANDI_METADATA,
            source="dandi",
            object_type="NWBFile",
            object_name="root",
            location="/",
        )

    try:
        metadata = extract(path)
        asset = asset_model(path, metadata)
        BareAsset(**asset.model_dump())
        published = published_asset_problems(asset.model_dump(mode="json", exclude_none=True), path)
    except ValidationError as exc:
        return None, [
            problem(
                f"DANDI asset metadata is invalid at "
                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
            )
            for error in exc.errors()
        ]
    except Exception as exc:
        return None, [problem(f"DANDI cannot extract the asset metadata: {exc}")]
    return metadata, [{**problem(p), "check_function_name": CHECK} for p in published]


def _organize_findings(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    findings = []
    if not metadata.get("subject_id"):
        findings.append(
            finding(
                "dandi organize needs subject_id to name this file (sub-<subject_id>/...); "
                "set nwbfile.subject.subject_id",
                "CRITICAL",
                ORGANIZE_SUBJECT,
                source="publishkit",
                object_type="Subject",
                object_name="subject",
                location="/general/subject",
            )
        )
    if not metadata.get("session_id"):
        findings.append(
            finding(
                "dandi organize needs session_id for a stable file name (_ses-<session_id>); "
                "without it the name depends on which files are organized together",
                "BEST_PRACTICE_VIOLATION",
                ORGANIZE_SESSION,
                source="publishkit",
                object_type="NWBFile",
                object_name="root",
                location="/general/session_id",
            )
        )
    return findings
