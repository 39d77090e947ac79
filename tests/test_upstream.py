"""The private parts of dandi-cli and nwbinspector publishkit leans on (publishkit/upstream.py)
are still there and still do what inspection and organize rely on. When an upgrade of either
tool breaks this file, adapt publishkit/upstream.py: inspection would otherwise fall back to the
tools' own (three times slower) reads, or report differently, without a word."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import h5py
import pytest
from pynwb import NWBHDF5IO

from publishkit.upstream import (
    PRIVATE,
    asset_model,
    dandi_metadata_reader,
    dandi_reads,
    has_external_links,
    missing,
    organized_name,
    quiet_dandi,
    read_nwbfile_and_io,
)
from tests.nwbfactory import write_nwb


def test_every_private_name_is_still_there() -> None:
    versions = {name: importlib.metadata.version(name) for name in ("dandi", "nwbinspector")}
    assert missing() == [], f"gone from {versions}: adapt publishkit/upstream.py"
    assert len(PRIVATE) == 18


def test_dandi_reads_the_nwbfile_it_is_handed_not_the_file_again(tmp_path: Path) -> None:
    """Inspection hands dandi-cli the NWBFile it read; if dandi-cli stopped opening files through
    `dandi.pynwb_utils.NWBHDF5IO`, it would read the file on disk (here: the other one)."""
    on_disk = write_nwb(tmp_path / "a.nwb", subject_id="on-disk", identifier="on-disk")
    handed = write_nwb(tmp_path / "b.nwb", subject_id="handed", identifier="handed")
    extract = dandi_metadata_reader()
    assert extract is not None and extract(str(on_disk))["subject_id"] == "on-disk"
    with NWBHDF5IO(str(handed), "r") as io, dandi_reads(io.read()):
        metadata = extract(str(on_disk))
    assert (metadata["subject_id"], metadata["identifier"]) == ("handed", "handed")
    assert extract(str(on_disk))["subject_id"] == "on-disk"  # the swap ends with the block


def test_dandi_reads_the_open_file_for_its_other_steps(tmp_path: Path) -> None:
    """Handed the h5py File too, dandi-cli's other steps (external links, NWB version,
    neurodata types) read it, not the file on disk (here: one with an external link, which
    dandi-cli refuses), and not through its disk cache; what it extracts is what it extracts
    on its own, and the open file stays open for the rest of inspection."""
    on_disk = write_nwb(tmp_path / "a.nwb", subject_id="on-disk", identifier="on-disk")
    with h5py.File(on_disk, "a") as h5:
        h5["acquisition/elsewhere"] = h5py.ExternalLink("other.h5", "/data")
    handed = write_nwb(tmp_path / "b.nwb", subject_id="handed", identifier="handed")
    extract = dandi_metadata_reader()
    with pytest.raises(NotImplementedError, match="external links"):
        extract(str(on_disk))
    alone = extract(str(handed))
    with h5py.File(handed, "r") as h5, NWBHDF5IO(file=h5, mode="r") as io:
        with dandi_reads(io.read(), h5):
            metadata = extract(str(on_disk))
        assert h5.id.valid and h5.attrs["nwb_version"]
    assert metadata == alone
    with pytest.raises(NotImplementedError):  # every step swapped back with the block
        extract(str(on_disk))


@pytest.mark.parametrize(
    "link", ["none", "external at the root", "external in a group", "soft", "soft to external"]
)
def test_external_links_are_found_as_dandi_finds_them(tmp_path: Path, link: str) -> None:
    from dandi.pynwb_utils import nwb_has_external_links

    path = write_nwb(tmp_path / "a.nwb")
    with h5py.File(path, "a") as h5:
        if link == "external at the root":
            h5["elsewhere"] = h5py.ExternalLink("other.h5", "/data")
        elif link == "external in a group":
            h5["processing"].create_group("deep")["elsewhere"] = h5py.ExternalLink("o.h5", "/d")
        elif link == "soft":
            h5["general/again"] = h5py.SoftLink("/acquisition")
        elif link == "soft to external":
            h5["acquisition/elsewhere"] = h5py.ExternalLink("other.h5", "/data")
            h5["general/again"] = h5py.SoftLink("/acquisition/elsewhere")
    with h5py.File(path, "r") as h5:
        ours = has_external_links(h5)
    theirs = getattr(nwb_has_external_links, "__wrapped__", nwb_has_external_links)(str(path))
    assert ours == theirs == (link not in ("none", "soft"))


def test_the_asset_model_is_dandis_and_the_organized_name_follows_it(tmp_path: Path) -> None:
    path = write_nwb(tmp_path / "a.nwb", subject_id="m1", session_id="s1")
    metadata = dandi_metadata_reader()(str(path))
    asset = asset_model(str(path), metadata).model_dump(mode="json", exclude_none=True)
    assert asset["encodingFormat"] == "application/x-nwb"
    assert asset["wasAttributedTo"][0]["identifier"] == "m1"
    assert asset["contentSize"] == path.stat().st_size
    assert organized_name({**metadata, "path": str(path)}, ("session_id",)) == (
        "sub-m1/sub-m1_ses-s1.nwb"
    )


def test_nwbinspectors_own_read_gives_the_file_and_an_io_to_close(tmp_path: Path) -> None:
    path = write_nwb(tmp_path / "a.nwb", identifier="read-by-nwbinspector")
    nwbfile, io = read_nwbfile_and_io(str(path))
    try:
        assert nwbfile.identifier == "read-by-nwbinspector"
    finally:
        io.close()


def test_dandi_organize_sanitizes_ids_as_dandi_paths_says() -> None:
    """convert refuses an id from the sessions table by `dandi_paths.refused_in_id`, which
    assumes which characters `dandi organize` turns into "-" (SANITIZED); if dandi-cli changed
    them, convert would refuse ids that organize accepts, or the reverse."""
    from dandi.organize import _sanitize_value

    from publishkit.formats.dandi_paths import SANITIZED

    for code in range(0x20, 0x3100):
        char = chr(code)
        if char == "-":
            continue
        assert (_sanitize_value(f"a{char}b", "subject_id") == "a-b") == bool(
            SANITIZED.fullmatch(char)
        ), repr(char)


def test_quiet_dandi_gives_the_dandi_logger_its_level_back() -> None:
    """Quiet for the block only: after it (and after an error in it) dandi-cli logs as before."""
    import logging

    logger = logging.getLogger("dandi")
    before = logger.level
    try:
        logger.setLevel(logging.INFO)
        with quiet_dandi():
            assert logger.level == logging.ERROR
        assert logger.level == logging.INFO
        with pytest.raises(RuntimeError), quiet_dandi():
            raise RuntimeError("a failure inside the block")
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(before)


def test_a_pynwb_cache_cut_short_is_mended_before_pynwb_is_imported(tmp_path) -> None:
    """pynwb pickles its type map in place on its first import: a run killed as it wrote
    left a file on which every later `import pynwb` failed (EOFError in the forkserver's
    preload, seen in the signal test). The mended cache is written again by pynwb."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    run = [sys.executable, "-c"]
    first = subprocess.run([*run, "import pynwb"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    (cached,) = tmp_path.rglob("pynwb_core_typemap.pkl")
    whole = cached.read_bytes()
    cached.write_bytes(whole[: len(whole) // 2])  # as a killed first import leaves it
    broken = subprocess.run([*run, "import pynwb"], env=env, capture_output=True, text=True)
    assert broken.returncode == 1 and "truncated" in broken.stderr  # (or EOFError when empty)
    mended = subprocess.run(
        [
            *run,
            "from publishkit.upstream import mend_pynwb_cache as m; print(m(), m()); import pynwb",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert mended.returncode == 0, mended.stderr
    assert mended.stdout == "True False\n"  # removed once, then nothing to mend
    assert cached.read_bytes().endswith(b".") and cached.stat().st_size > len(whole) // 2  # again


def test_lindi_builds_indexes_without_its_progress_bars() -> None:
    """A release's console is publishkit's: lindi's tqdm bars (stderr, after 2 s of a large
    dataset's chunks) are turned off at their source, not by redirecting the process's stderr."""
    import sys

    from publishkit.upstream import quiet_lindi

    quiet_lindi()
    quiet_lindi()  # once is enough; a second call changes nothing
    bar = sys.modules["lindi.LindiH5ZarrStore.LindiH5ZarrStore"].tqdm(total=3, delay=0)
    assert bar.disable
    bar.close()
