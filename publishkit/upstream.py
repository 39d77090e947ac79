"""The parts of dandi-cli and nwbinspector that publishkit uses beyond their public API, in one
place.

Inspection reads each NWB file once and hands that read to nwbinspector and to dandi-cli, and
organize asks dandi-cli for a file's metadata without its disk cache; both lean on names the
tools do not promise to keep (`PRIVATE`). `tests/test_upstream.py` checks every one of them and
that handing dandi-cli an NWBFile still works, so an upgrade that moves one fails loudly there,
naming it, instead of making inspection slower or different without a word.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

# (module, attribute path, what publishkit uses it for)
PRIVATE: tuple[tuple[str, str, str], ...] = (
    (
        "dandi.pynwb_utils",
        "NWBHDF5IO",
        "the reader dandi-cli's metadata extraction opens a file with; swapped for the NWBFile "
        "inspection already read",
    ),
    ("dandi.metadata.nwb", "get_metadata.__wrapped__", "the extraction without dandi's disk cache"),
    (
        "dandi.metadata.nwb",
        "nwb_has_external_links",
        "the step refusing external links: h5py's own walk of the open file's links instead",
    ),
    (
        "dandi.metadata.nwb",
        "get_neurodata_types.__wrapped__",
        "its steps without the disk cache, on the file inspection has open",
    ),
    (
        "dandi.pynwb_utils",
        "open_readable",
        "how its steps open a file: given the file inspection has open",
    ),
    ("dandi.pynwb_utils", "h5py.File", "how its steps open a file with h5py: likewise"),
    ("dandi.metadata.core", "prepare_metadata", "nwb2asset's steps: the asset model"),
    ("dandi.metadata.util", "process_ndtypes", "nwb2asset's steps: the neurodata types"),
    ("dandi.metadata.core", "add_common_metadata", "nwb2asset's steps: size, digest, dates"),
    ("dandi.misctypes", "DUMMY_DANDI_ETAG", "the digest of an asset not uploaded yet"),
    ("dandi.organize", "create_unique_filenames_from_metadata", "organize's file names"),
    (
        "dandischema.metadata",
        "_get_jsonschema_validator_local",
        "the JSON Schema (and format checks) the archive validates a PublishedAsset with",
    ),
    (
        "nwbinspector.tools._read_nwbfile",
        "_read_nwbfile_and_io",
        "nwbinspector's own read, for files inspection cannot read once",
    ),
    (
        "lindi.LindiH5ZarrStore.LindiH5ZarrStore",
        "tqdm",
        "the progress bar lindi shows on stderr while it indexes a large dataset: turned off",
    ),
    (
        "lindi.conversion.attr_conversion",
        "h5_to_zarr_attr",
        "an HDF5 attribute as lindi writes it in an index (release.lindi_h5py_index)",
    ),
    (
        "lindi.conversion.create_zarr_dataset_from_h5_data",
        "h5_object_data_to_zarr_data",
        "strings and references of a dataset as lindi writes them inline: likewise",
    ),
    (
        "lindi.conversion.create_zarr_dataset_from_h5_data",
        "_make_json_serializable",
        "a field of a compound dataset's row as lindi writes it inline: likewise",
    ),
    (
        "lindi.conversion.h5_filters_to_codecs",
        "h5_filters_to_codecs",
        "a dataset's HDF5 filters as the codecs lindi's reader decodes its chunks with: likewise",
    ),
)


def missing() -> list[str]:
    """Each PRIVATE name the installed tools no longer have, as `module.attribute (use)`."""
    gone = []
    for module, attribute, use in PRIVATE:
        try:
            found: Any = importlib.import_module(module)
            for part in attribute.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            gone.append(f"{module}.{attribute} ({use})")
    return gone


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Warnings, and what the tools print to stdout (the channel of publishkit's reports), kept
    out for the length of the block."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def quiet_dandi() -> Iterator[None]:
    """`silenced`, and dandi-cli's log below ERROR (its warnings repeat publishkit's findings);
    the logger's own level back after the block, however it ends."""
    logger = logging.getLogger("dandi")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with silenced():
            yield
    finally:
        logger.setLevel(level)


def dandischema_validator(schema_key: str) -> Any:
    """dandischema's jsonschema validator of `schema_key` (e.g. PublishedAsset) at its own
    schema version: the schema and format checker its `validate` uses."""
    from dandischema.metadata import _get_jsonschema_validator_local

    return _get_jsonschema_validator_local(schema_key)


def dandi_metadata_reader() -> Callable[[str], dict[str, Any]]:
    """dandi-cli's `get_metadata`, without its own disk cache (we cache by content hash)."""
    from dandi.metadata.nwb import get_metadata

    return getattr(get_metadata, "__wrapped__", get_metadata)


@contextlib.contextmanager
def dandi_reads(nwbfile: Any, h5: Any = None) -> Iterator[None]:
    """For the length of the block, dandi-cli's metadata extraction is handed `nwbfile` instead
    of opening the file again with its own NWBHDF5IO (which reloads the cached specifications);
    and, given `h5` (the h5py File that `nwbfile` was read from), its other steps (external
    links, NWB version, neurodata types) read that open file, not the file again, and not
    through dandi's disk cache (a pickle written per file and step)."""
    import dandi.metadata.nwb as dandi_nwb
    import dandi.pynwb_utils as dandi_pynwb

    with _reading(dandi_pynwb, nwbfile):
        if h5 is None:
            yield
            return
        swaps = {
            (dandi_pynwb, "h5py"): _OpenFile(h5, dandi_pynwb.h5py),
            (dandi_pynwb, "open_readable"): lambda _: contextlib.nullcontext(),
            (dandi_nwb, "nwb_has_external_links"): lambda _: has_external_links(h5),
            **{
                (dandi_nwb, name): getattr(dandi_nwb, name).__wrapped__
                for name in ("get_nwb_version", "get_neurodata_types")
                if hasattr(getattr(dandi_nwb, name), "__wrapped__")
            },
        }
        originals = {where: getattr(*where) for where in swaps}
        try:
            for (module, name), value in swaps.items():
                setattr(module, name, value)
            yield
        finally:
            for (module, name), value in originals.items():
                setattr(module, name, value)


def has_external_links(h5: Any) -> bool:
    """dandi-cli's `nwb_has_external_links` verdict on an open h5py File, from h5py's walk of
    every link (HDF5's own, in C; a tenth of the time of dandi-cli's walk in Python). Every
    object has a hard link from the root, so the walk, which follows no soft link, still meets
    each external link."""
    import h5py

    def external(_: str, link: Any) -> bool | None:
        return True if isinstance(link, h5py.ExternalLink) else None  # True ends the walk

    return bool(h5.visititems_links(external))


class _OpenFile:
    """Stands in for the h5py module where dandi-cli opens a file: `File(...)` is the file
    already open (left open at the block's end); every other name is h5py's."""

    def __init__(self, h5: Any, h5py: Any) -> None:
        self._h5, self._h5py = h5, h5py

    def File(self, *args: Any, **kwargs: Any) -> Any:
        return contextlib.nullcontext(self._h5)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._h5py, name)


@contextlib.contextmanager
def _reading(dandi_pynwb: Any, nwbfile: Any) -> Iterator[None]:
    """dandi-cli's NWBHDF5IO swapped for one whose read() is `nwbfile`."""

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


def asset_model(path: str, metadata: dict[str, Any]) -> Any:
    """dandi-cli's `nwb2asset` steps on extracted `metadata`: the asset's BareAsset model, with
    the placeholder digest of a file not uploaded yet."""
    from dandi.metadata.core import add_common_metadata, prepare_metadata
    from dandi.metadata.util import process_ndtypes
    from dandi.misctypes import DUMMY_DANDI_ETAG

    start = datetime.now().astimezone()
    asset = prepare_metadata(metadata)
    process_ndtypes(asset, metadata["nd_types"])
    add_common_metadata(asset, path, start, datetime.now().astimezone(), DUMMY_DANDI_ETAG)
    asset.encodingFormat = "application/x-nwb"
    asset.path = path
    return asset


def read_nwbfile_and_io(path: str) -> tuple[Any, Any]:
    """nwbinspector's own read of a file: (NWBFile, the open io to close)."""
    from nwbinspector.tools._read_nwbfile import _read_nwbfile_and_io

    return _read_nwbfile_and_io(nwbfile_path=path)


def organized_name(metadata: dict[str, Any], required: tuple[str, ...]) -> str:
    """The dandiset path `dandi organize` gives a file with this metadata."""
    from dandi.organize import create_unique_filenames_from_metadata

    with quiet_dandi():
        (named,) = create_unique_filenames_from_metadata([metadata], list(required))
    return str(named["dandi_path"])


def mend_pynwb_cache() -> bool:
    """Remove pynwb's cached type map when it is cut short. pynwb pickles it in place on its
    first import in a user's cache folder, so a process killed or interrupted as it writes
    leaves a file that makes every later `import pynwb` fail (EOFError) until it is deleted;
    pynwb writes it again on its next import. True when one was removed. (The path is pynwb's
    own: platformdirs' cache folder for "pynwb-hdmf", version "<pynwb>-<hdmf>".)"""
    from importlib.metadata import PackageNotFoundError, version

    from platformdirs import PlatformDirs

    try:
        tag = f"{version('pynwb')}-{version('hdmf')}"
    except PackageNotFoundError:
        return False
    cached = PlatformDirs(appname="pynwb-hdmf", version=tag).user_cache_path
    path = cached / "pynwb_core_typemap.pkl"
    try:
        with path.open("rb") as stream:
            size = stream.seek(0, 2)
            if size:
                stream.seek(-1, 2)
            whole = size > 0 and stream.read(1) == b"."  # a pickle ends with STOP
    except OSError:
        return False
    if whole:
        return False
    path.unlink(missing_ok=True)
    return True


def quiet_lindi() -> None:
    """lindi without its progress bars (tqdm on stderr, after 2 s of a large dataset's chunks):
    an index is built inside a release, whose console is publishkit's. Its module's own name for
    tqdm is swapped for one that is disabled, for this process; nothing else is redirected."""
    import functools
    import sys

    import lindi  # noqa: F401  (imports the module below)

    store = sys.modules["lindi.LindiH5ZarrStore.LindiH5ZarrStore"]
    bar = getattr(store, "tqdm")  # noqa: B009  (a module's name mypy does not know)
    if not isinstance(bar, functools.partial):
        setattr(store, "tqdm", functools.partial(bar, disable=True))  # noqa: B010
