"""The schema specifications NWB files cache: each loaded once per worker, kept across runs.

Loading a file's cached specifications (and building pynwb's validators for them) dominates the
time to inspect one file; files that cache the same ones share one load, kept pickled between runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import sys
from pathlib import Path
from typing import Any

import msgspec

from publishkit.local_files import put_in_place


class Spec(msgspec.Struct):
    """What one cached specification costs to load, loaded once per worker."""

    namespaces: list[str]  # the most specific ones, which pynwb validates against
    validation_types: Any  # type map of the cached namespaces alone (pynwb's validation)
    read_types: Any  # pynwb's type map plus the cached namespaces (pynwb's reading)
    validators: dict[str, Any]


_SPECS: dict[str, Spec | None] = {}  # signature -> spec (None: no namespaces to validate)


def spec_signature(file: Any) -> str | None:
    """A digest of the specifications cached in the file (None when it caches none): `file`, a
    path or an open h5py File."""
    import h5py

    with h5py.File(file, "r") if isinstance(file, str) else contextlib.nullcontext(file) as handle:
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


def spec_names(path: str) -> tuple[tuple[str, ...], ...] | None:
    """The namespaces and versions the file caches, read without their contents: ~1 ms a file,
    a fifth of `spec_signature`, enough to group files that likely share a specification."""
    import h5py

    with h5py.File(path, "r") as handle:
        specs = handle.get("specifications")
        if not isinstance(specs, h5py.Group) or not len(specs):
            return None
        return tuple(
            (name, *sorted(group)) if isinstance(group, h5py.Group) else (name,)
            for name, group in sorted(specs.items())
        )


def load_spec(path: str, specs_dir: str | None, file: Any = None) -> Spec | None:
    """The specification cached in the file, loaded once per worker (None: it caches none).
    `file`: the file already open with h5py, read instead of opening it again."""
    from pynwb import NWBHDF5IO, get_type_map
    from pynwb.validation import get_cached_namespaces_to_validate

    signature = spec_signature(path if file is None else file)
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
            loaded = Spec(namespaces, manager.type_map, read_types, {})
            _add_validators(loaded)
            _store_spec(specs_dir, signature, loaded)
            _SPECS[signature] = loaded
    return _SPECS[signature]


def _add_validators(spec: Spec) -> None:
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


def _stored_spec(specs_dir: str | None, signature: str) -> Spec | None:
    """A specification loaded by an earlier run (loading one from its file takes ~0.4 s; its
    pickle ~0.02 s): what keeps re-inspecting one changed file cheap."""
    if specs_dir is None:
        return None
    try:
        with _spec_file(specs_dir, signature).open("rb") as handle:
            namespaces, validation_types, read_types, validators = pickle.load(handle)
    except Exception:
        return None  # absent, or not loadable by these versions: load it from the file
    return Spec(namespaces, validation_types, read_types, validators)


def _store_spec(specs_dir: str | None, signature: str, spec: Spec) -> None:
    if specs_dir is None:
        return
    try:
        data = pickle.dumps(
            (spec.namespaces, spec.validation_types, spec.read_types, spec.validators)
        )
    except Exception:
        return  # e.g. classes pynwb generated for an extension: loaded from the file each run
    with put_in_place(_spec_file(specs_dir, signature), racing=True) as partial:
        partial.write_bytes(data)
