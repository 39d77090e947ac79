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

import contextlib
import hashlib
import io as _io
import json
import logging
import os
import pickle
import sys
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ORGANIZE_SUBJECT = "check_dandi_organize_subject_id"
ORGANIZE_SESSION = "check_dandi_organize_session_id"
DANDI_METADATA = "check_dandi_asset_metadata"


@dataclass
class _Spec:
    """What one cached specification costs to load, loaded once per worker."""

    namespaces: list[str]  # the most specific ones, which pynwb validates against
    validation_types: Any  # type map of the cached namespaces alone (pynwb's validation)
    read_types: Any  # pynwb's type map plus the cached namespaces (pynwb's reading)
    validators: dict[str, Any]


_SPECS: dict[str, _Spec | None] = {}  # signature -> spec (None: no namespaces to validate)
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
    """Everything inspection learns from one file: its identifier, findings and DANDI fields.
    `specs_dir` keeps loaded specifications across runs (see `_spec`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            spec = _spec(path, specs_dir)
        except Exception:
            spec = None  # not HDF5, truncated...: the tools' own reads report why
        if spec is not None:
            try:
                return _inspect_once(path, spec, config, dandi)
            except Exception:
                pass  # whatever failed, the tools' own reads report it their way
        return _inspect_separately(path, config, dandi)


def spec_signature(path: str) -> str | None:
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


def _spec(path: str, specs_dir: str | None) -> _Spec | None:
    from pynwb import NWBHDF5IO, get_type_map
    from pynwb.validation import get_cached_namespaces_to_validate

    signature = spec_signature(path)
    if signature is None:
        return None
    if signature not in _SPECS:
        stored = _stored_spec(specs_dir, signature)
        if stored is not None:
            _SPECS[signature] = stored
            return stored
        namespaces, manager, _ = get_cached_namespaces_to_validate(path=path)
        if not namespaces:
            _SPECS[signature] = None
        else:
            read_types = get_type_map()
            NWBHDF5IO.load_namespaces(read_types, path)
            loaded = _Spec(namespaces, manager.type_map, read_types, {})
            _add_validators(loaded)
            _store_spec(specs_dir, signature, loaded)
            _SPECS[signature] = loaded
    return _SPECS[signature]


def _add_validators(spec: _Spec) -> None:
    """pynwb's validators of each namespace (building them costs ~0.1 s: kept with the spec)."""
    from hdmf.validate import ValidatorMap

    catalog = spec.validation_types.namespace_catalog
    for namespace in spec.namespaces:
        spec.validators[namespace] = ValidatorMap(catalog.get_namespace(namespace))


def _spec_file(specs_dir: str, signature: str) -> Path:
    """Loaded type maps hold pynwb's and hdmf's classes: only the same versions may load them."""
    from importlib.metadata import version

    tools = f"{version('pynwb')}-{version('hdmf')}-{sys.version_info[0]}.{sys.version_info[1]}"
    return Path(specs_dir) / f"{signature}-{tools}-v2.pickle"


def _stored_spec(specs_dir: str | None, signature: str) -> _Spec | None:
    """A specification loaded by an earlier run (loading one from its file takes ~0.4 s; its
    pickle ~0.02 s): what keeps re-inspecting one changed file cheap."""
    if specs_dir is None:
        return None
    try:
        with _spec_file(specs_dir, signature).open("rb") as handle:
            namespaces, validation_types, read_types, validators = pickle.load(handle)
    except Exception:
        return None  # absent, or not loadable by these versions: load it from the file
    return _Spec(namespaces, validation_types, read_types, validators)


def _store_spec(specs_dir: str | None, signature: str, spec: _Spec) -> None:
    if specs_dir is None:
        return
    try:
        data = pickle.dumps(
            (spec.namespaces, spec.validation_types, spec.read_types, spec.validators)
        )
    except Exception:
        return  # e.g. classes pynwb generated for an extension: loaded from the file each run
    target = _spec_file(specs_dir, signature)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_bytes(data)
    os.replace(partial, target)


def _inspect_once(
    path: str, spec: _Spec, config: dict[str, list[str]] | None, dandi: bool
) -> dict[str, Any]:
    from hdmf.build import BuildManager
    from nwbinspector import inspect_nwbfile_object
    from pynwb import NWBHDF5IO

    findings = []
    with NWBHDF5IO(path, "r", manager=BuildManager(spec.read_types)) as io:
        builder = io.read_builder()
        for namespace in spec.namespaces:
            findings += [
                _validation_finding(e) for e in spec.validators[namespace].validate(builder)
            ]
        nwbfile = io.read()
        for message in inspect_nwbfile_object(nwbfile_object=nwbfile, checks=_checks(config)):
            findings.append(_inspector_finding(message))
        if dandi:
            with _dandi_reads(nwbfile):
                findings += _dandi(path)
        identifier = str(nwbfile.identifier)
    return {"identifier": identifier, "readable": True, "findings": findings}


@contextlib.contextmanager
def _dandi_reads(nwbfile: Any) -> Iterator[None]:
    """dandi-cli's metadata extraction opens the file with its own NWBHDF5IO, reloading the cached
    specifications; for the length of one call it is handed the NWBFile already read."""
    import dandi.pynwb_utils as dandi_pynwb

    class _AlreadyRead:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __enter__(self) -> _AlreadyRead:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self) -> Any:
            return nwbfile

    original = dandi_pynwb.NWBHDF5IO
    dandi_pynwb.NWBHDF5IO = _AlreadyRead
    try:
        yield
    finally:
        dandi_pynwb.NWBHDF5IO = original


def _inspect_separately(
    path: str, config: dict[str, list[str]] | None, dandi: bool
) -> dict[str, Any]:
    """Exactly nwbinspector's `inspect_nwbfile` steps, then dandi-cli's own read."""
    import pynwb
    from nwbinspector import inspect_nwbfile_object
    from nwbinspector.tools._read_nwbfile import _read_nwbfile_and_io

    findings: list[dict[str, Any]] = []
    io = None
    try:
        nwbfile, io = _read_nwbfile_and_io(nwbfile_path=path)
        identifier = str(nwbfile.identifier)
        findings += [_validation_finding(e) for e in pynwb.validate(path=path)]
        for message in inspect_nwbfile_object(nwbfile_object=nwbfile, checks=_checks(config)):
            findings.append(_inspector_finding(message))
    except Exception as exc:  # nwbinspector's own rule: an unreadable file is one ERROR
        return _unreadable(exc)
    finally:
        if io is not None:
            io.close()
    if dandi:
        findings += _dandi(path)
    return {"identifier": identifier, "readable": True, "findings": findings}


def _unreadable(exc: Exception) -> dict[str, Any]:
    name = f"{type(exc).__module__}.{type(exc).__name__}"
    reason = traceback.format_exception_only(exc)[-1].strip()
    check = (
        f"During io.read(), an error occurred: {name}. This indicates that PyNWB was unable "
        "to read the file. See the traceback message for more details."
    )
    return {
        "identifier": None,
        "readable": False,
        "findings": [finding(reason, "ERROR", check, source="nwbinspector")],
    }


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
    from dandi.metadata.nwb import get_metadata

    logging.getLogger("dandi").setLevel(logging.ERROR)  # its warnings repeat our findings
    extract = getattr(get_metadata, "__wrapped__", get_metadata)  # skip dandi's own disk cache
    # dandi prints some complaints to stdout, which is the report's channel: keep them out
    with contextlib.redirect_stdout(_io.StringIO()):
        metadata, problems = _dandi_metadata(path, extract)
    if problems or metadata is None:
        return problems
    return _organize_findings(metadata)


def _dandi_metadata(path: str, extract: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """dandi-cli's `nwb2asset` steps, then the schema check `dandi upload` applies."""
    from dandi.metadata.core import add_common_metadata, prepare_metadata
    from dandi.metadata.util import process_ndtypes
    from dandi.misctypes import DUMMY_DANDI_ETAG
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
        start = datetime.now().astimezone()
        metadata = extract(path)
        asset = prepare_metadata(metadata)
        process_ndtypes(asset, metadata["nd_types"])
        add_common_metadata(asset, path, start, datetime.now().astimezone(), DUMMY_DANDI_ETAG)
        asset.encodingFormat = "application/x-nwb"
        asset.path = path
        BareAsset(**asset.model_dump())
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
    return metadata, []


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
