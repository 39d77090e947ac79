"""Inspection of one NWB file, run in worker processes: nwbinspector, pynwb validation, DANDI.

Findings match what `nwbinspector` reports for the file, computed faster: pynwb's validation
loads the schema namespaces cached in every file, which dominates the time per file; here a
worker loads each distinct cached specification once and re-uses its type map and validators.
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _io
import json
import logging
import traceback
import warnings
from datetime import datetime
from typing import Any

_NAMESPACES: dict[str, tuple[list[str], Any]] = {}  # spec signature -> (namespaces, type map)
_VALIDATORS: dict[tuple[str, str], Any] = {}
_CHECKS: dict[str, list[Any]] = {}

ORGANIZE_SUBJECT = "check_dandi_organize_subject_id"
ORGANIZE_SESSION = "check_dandi_organize_session_id"
DANDI_METADATA = "check_dandi_asset_metadata"


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


def inspect_path(path: str, config: dict[str, list[str]] | None, dandi: bool) -> dict[str, Any]:
    """Everything inspection learns from one file: its identifier, findings and DANDI fields."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _nwbinspector(path, config)
        if dandi and result["readable"]:
            result["findings"] += _dandi(path)
    return result


def _nwbinspector(path: str, config: dict[str, list[str]] | None) -> dict[str, Any]:
    from nwbinspector import inspect_nwbfile_object
    from nwbinspector.tools._read_nwbfile import _read_nwbfile_and_io

    findings: list[dict[str, Any]] = []
    identifier = None
    io = None
    try:
        nwbfile, io = _read_nwbfile_and_io(nwbfile_path=path)
        identifier = str(nwbfile.identifier)
        for error in _validate(path):
            findings.append(
                finding(
                    error.reason,
                    "PYNWB_VALIDATION",
                    error.name,
                    source="nwbinspector",
                    location=error.location,
                )
            )
        for message in inspect_nwbfile_object(nwbfile_object=nwbfile, checks=_checks(config)):
            findings.append(
                finding(
                    message.message,
                    message.importance.name,
                    message.check_function_name,
                    source="nwbinspector",
                    severity=message.severity.name,
                    object_type=message.object_type,
                    object_name=message.object_name,
                    location=message.location,
                )
            )
    except Exception as exc:  # nwbinspector's own rule: an unreadable file is one ERROR
        name = f"{type(exc).__module__}.{type(exc).__name__}"
        reason = traceback.format_exception_only(exc)[-1].strip()
        return {
            "identifier": None,
            "readable": False,
            "findings": [
                finding(
                    f"{reason}",
                    "ERROR",
                    f"During io.read(), an error occurred: {name}. This indicates that PyNWB "
                    "was unable to read the file. See the traceback message for more details.",
                    source="nwbinspector",
                )
            ],
        }
    finally:
        if io is not None:
            io.close()
    return {"identifier": identifier, "readable": True, "findings": findings}


def _checks(config: dict[str, list[str]] | None) -> list[Any]:
    from nwbinspector import Importance, configure_checks

    key = json.dumps(config, sort_keys=True)
    if key not in _CHECKS:
        _CHECKS[key] = configure_checks(
            config=config, importance_threshold=Importance.BEST_PRACTICE_SUGGESTION
        )
    return _CHECKS[key]


def _validate(path: str) -> list[Any]:
    """`pynwb.validate(path=path)`, with the cached namespaces loaded once per specification."""
    import pynwb
    from hdmf.build import BuildManager
    from hdmf.validate import ValidatorMap
    from pynwb.validation import get_cached_namespaces_to_validate

    signature = _spec_signature(path)
    if signature is None:
        return list(pynwb.validate(path=path))
    if signature not in _NAMESPACES:
        namespaces, manager, _ = get_cached_namespaces_to_validate(path=path)
        if not namespaces:
            return list(pynwb.validate(path=path))
        _NAMESPACES[signature] = (namespaces, manager.type_map)
    namespaces, type_map = _NAMESPACES[signature]
    errors: list[Any] = []
    with pynwb.NWBHDF5IO(path=path, mode="r", manager=BuildManager(type_map)) as io:
        builder = io.read_builder()
        for namespace in namespaces:
            key = (signature, namespace)
            if key not in _VALIDATORS:
                _VALIDATORS[key] = ValidatorMap(type_map.namespace_catalog.get_namespace(namespace))
            errors += _VALIDATORS[key].validate(builder)
    return errors


def _spec_signature(path: str) -> str | None:
    """A digest of the specifications cached in the file (None when it caches none)."""
    import h5py

    with h5py.File(path, "r") as handle:
        specs = handle.get("specifications")
        if not isinstance(specs, h5py.Group) or not len(specs):
            return None
        digest = hashlib.sha256()

        def add(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset):
                digest.update(name.encode())
                value = item[()]
                digest.update(value if isinstance(value, bytes) else str(value).encode())

        specs.visititems(add)
    return digest.hexdigest()


def _dandi(path: str) -> list[dict[str, Any]]:
    """What `dandi upload` would reject in the asset metadata, and what `dandi organize` needs."""
    from dandi.metadata.nwb import get_metadata

    logging.getLogger("dandi").setLevel(logging.ERROR)  # its warnings repeat our findings
    extract = getattr(get_metadata, "__wrapped__", get_metadata)  # skip dandi's own disk cache
    findings: list[dict[str, Any]] = []
    # dandi prints some complaints to stdout, which is the report's channel: keep them out
    with contextlib.redirect_stdout(_io.StringIO()):
        return _dandi_checked(path, extract, findings)


def _dandi_checked(path: str, extract: Any, findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from dandi.metadata.core import add_common_metadata, prepare_metadata
    from dandi.metadata.util import process_ndtypes
    from dandi.misctypes import DUMMY_DANDI_ETAG
    from dandischema.models import BareAsset
    from pydantic import ValidationError

    try:
        start = datetime.now().astimezone()
        metadata = extract(path)
        asset = prepare_metadata(metadata)
        process_ndtypes(asset, metadata["nd_types"])
        add_common_metadata(asset, path, start, datetime.now().astimezone(), DUMMY_DANDI_ETAG)
        asset.encodingFormat = "application/x-nwb"
        asset.path = path
        BareAsset(**asset.model_dump())
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            findings.append(
                finding(
                    f"DANDI asset metadata is invalid at {where}: {error['msg']}",
                    "CRITICAL",
                    DANDI_METADATA,
                    source="dandi",
                    object_type="NWBFile",
                    object_name="root",
                    location="/",
                )
            )
        return findings
    except Exception as exc:
        return [
            finding(
                f"DANDI cannot extract the asset metadata: {exc}",
                "CRITICAL",
                DANDI_METADATA,
                source="dandi",
                object_type="NWBFile",
                object_name="root",
                location="/",
            )
        ]
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
