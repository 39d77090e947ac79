"""`kind: neuroconv`: plan-time checks, skip-unchanged on the sources' files, the trust notice,
and publishkit without NeuroConv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from publishkit.nwb import neuroconv_plan
from publishkit.nwb.templates import builtin_dir
from publishkit.workspace import digests

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def study(cli, tmp_path: Path) -> Path:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "spikeglx-phy").exit_code == 0
    return workspace


def convert(cli, workspace: Path, *args: str) -> tuple[int, dict]:
    result = cli("convert", "-w", str(workspace), "--format", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def own_template(workspace: Path, old: str = "", new: str = "") -> Path:
    """A copy of spikeglx-phy as the workspace's own template, with `old` replaced by `new`."""
    folder = workspace / "tpl" / "spikeglx-phy"
    folder.mkdir(parents=True)
    path = folder / "template.yaml"
    text = (builtin_dir() / "spikeglx-phy" / "template.yaml").read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    (workspace / "publishkit.yaml").write_text(
        "project: study\nconversion:\n  template: spikeglx-phy\n  templates_dir: tpl\n"
    )
    return path


def first_session(workspace: Path) -> tuple[Path, Path]:
    """Row 1's SpikeGLX folder and Phy folder."""
    return (
        next((workspace / "data" / "sglx01").glob("*_g0/*_imec0")),
        workspace / "data" / "sglx01" / "phy",
    )


def test_a_row_is_converted_again_when_a_file_of_its_sources_changes(
    cli, study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert convert(cli, study)[1]["counts"]["converted"] == 2
    with monkeypatch.context() as patched:  # unchanged sources are not read again
        patched.setattr(digests, "digest_file", lambda path: pytest.fail(f"{path} was read"))
        assert convert(cli, study)[1]["counts"] == {"converted": 0, "unchanged": 2, "failed": 0}
    (study / "data" / "notes.txt").write_text("a file no row reads")
    assert convert(cli, study)[1]["counts"]["unchanged"] == 2

    recording, phy = first_session(study)
    meta = next(recording.glob("*.ap.meta"))  # the sibling of the .bin, same stem
    meta.write_text(meta.read_text().replace("imDatPrb_sn=18194814141", "imDatPrb_sn=1"))
    code, report = convert(cli, study)
    assert code == 0
    assert [r["status"] for r in report["rows"]] == ["converted", "unchanged"]

    (phy / "cluster_group.tsv").write_text("cluster_id\tgroup\n0\tgood\n1\tnoise\n2\tmua\n")
    assert [r["status"] for r in convert(cli, study)[1]["rows"]] == ["converted", "unchanged"]


def test_inputs_choose_the_files_that_decide(cli, study: Path) -> None:
    own_template(
        study, "      stream_id: imec0.ap\n", '      stream_id: imec0.ap\n    inputs: ["*.bin"]\n'
    )
    assert convert(cli, study)[1]["counts"]["converted"] == 2
    recording, _ = first_session(study)
    meta = next(recording.glob("*.ap.meta"))
    meta.write_text(meta.read_text() + "userNotes=not an input\n")
    assert convert(cli, study)[1]["counts"]["unchanged"] == 2
    binary = next(recording.glob("*.ap.bin"))
    binary.write_bytes(bytes(reversed(binary.read_bytes())))
    assert [r["status"] for r in convert(cli, study)[1]["rows"]] == ["converted", "unchanged"]


def test_a_new_version_of_neuroconv_or_its_readers_converts_again(
    cli, study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert convert(cli, study)[1]["counts"]["converted"] == 2
    found = neuroconv_plan.versions()
    assert set(found) == {"neuroconv", "spikeinterface", "neo", "roiextractors"}
    monkeypatch.setattr(neuroconv_plan, "versions", lambda: {**found, "neo": "99.0"})
    assert convert(cli, study)[1]["counts"]["converted"] == 2


def test_the_files_source_script_names_template_publishkit_and_neuroconv(cli, study) -> None:
    from importlib.metadata import version

    from pynwb import NWBHDF5IO

    import publishkit

    assert convert(cli, study)[0] == 0
    with NWBHDF5IO(str(study / "nwb" / "sub-M-701_ses-sglx01.nwb"), "r") as io:
        script = io.read().source_script
    assert script == (
        f"publishkit {publishkit.__version__}; template spikeglx-phy 1.0.0; "
        f"neuroconv {version('neuroconv')}"
    )


def test_conversion_in_warm_workers(cli, study: Path) -> None:
    code, report = convert(cli, study, "--jobs", "2")
    assert code == 0 and report["counts"]["converted"] == 2
    assert (study / "nwb" / "sub-M-702_ses-sglx02.nwb").is_file()


def test_the_notice_is_given_once_per_workspace(cli, study: Path) -> None:
    first = cli("convert", "-w", str(study))
    assert first.exit_code == 0
    notes = [line for line in first.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert "PhySortingInterface runs code from the lab's data" in notes[0]
    assert "params.py" in notes[0]
    recording, _ = first_session(study)
    meta = next(recording.glob("*.ap.meta"))
    meta.write_text(meta.read_text() + "userNotes=changed\n")
    code, report = convert(cli, study)
    assert code == 0 and report["counts"]["converted"] == 1
    assert report["notices"] == []


def test_an_unknown_interface_names_the_close_ones(cli, study: Path) -> None:
    path = own_template(study, "SpikeGLXRecordingInterface", "SpikeGlxRecordingInterface")
    result = cli("convert", "-w", str(study))
    assert result.exit_code == 2
    assert f"{path} line 26: objects.0.interface: NeuroConv has no data interface" in result.stderr
    assert "'SpikeGlxRecordingInterface' (close: SpikeGLXRecordingInterface" in result.stderr
    assert not (study / "nwb").exists()


def test_two_writers_of_the_electrodes_are_refused(cli, study: Path) -> None:
    path = own_template(
        study,
        "objects:\n",
        'objects:\n  - kind: probes\n    source: "{{ row.phy_dir }}/probes.csv"\n',
    )
    result = cli("convert", "-w", str(study))
    assert result.exit_code == 2
    assert (
        f"{path} line 28: objects.1.interface: SpikeGLXRecordingInterface writes" in result.stderr
    )
    assert "that kind probes writes too" in result.stderr
    assert not (study / "nwb").exists()


@pytest.mark.parametrize(
    ("old", "new", "row", "column", "expected"),
    [
        (
            '      folder_path: "{{ row.spikeglx_dir }}"\n',
            '      folder_pth: "{{ row.spikeglx_dir }}"\n',
            1,
            "spikeglx_dir",
            "line 28: objects.0.source_data (SpikeGLXRecordingInterface): Additional properties "
            "are not allowed ('folder_pth' was unexpected)",
        ),
        (
            "      stream_id: imec0.ap\n",
            "      stream_id: [imec0.ap]\n",
            1,
            "spikeglx_dir",
            "line 29: objects.0.source_data.stream_id (SpikeGLXRecordingInterface): "
            "['imec0.ap'] is not of type 'string'",
        ),
        (
            "  - kind: neuroconv\n    interface: PhySortingInterface\n",
            "  - kind: neuroconv\n    interface: PhySortingInterface\n"
            "    conversion_options: {stub_tst: true}\n",
            1,
            "phy_dir",
            "line 38: objects.1.conversion_options (PhySortingInterface): Additional properties "
            "are not allowed ('stub_tst' was unexpected)",
        ),
    ],
)
def test_source_data_is_checked_before_anything_is_read(
    cli, study: Path, old: str, new: str, row: int, column: str, expected: str
) -> None:
    own_template(study, old, new)
    code, report = convert(cli, study)
    assert code == 1
    failed = report["rows"][row - 1]
    assert failed["status"] == "failed" and failed["column"] == column
    assert failed["reason"].startswith(f"spikeglx-phy/template.yaml {expected}"), failed["reason"]


def test_source_paths_stay_in_the_workspace_and_exist(cli, study: Path) -> None:
    table = study / "sessions.csv"
    text = table.read_text()
    table.write_text(
        text.replace("data/sglx01/phy", "../outside").replace("data/sglx02/phy", "data/none")
    )
    code, report = convert(cli, study)
    assert code == 1
    outside, missing = report["rows"]
    assert outside["column"] == missing["column"] == "phy_dir"
    assert outside["reason"].endswith(
        "objects.1.source_data.folder_path (PhySortingInterface): '../outside' is not a path "
        "inside the workspace"
    )
    assert missing["reason"].endswith(": data/none does not exist")
    assert not (study / "nwb").exists() or not any((study / "nwb").iterdir())


def test_a_source_neuroconv_cannot_read_fails_its_row_alone(cli, study: Path) -> None:
    _, phy = first_session(study)
    (phy / "params.py").write_text("sample_rate = \n")  # not Python
    code, report = convert(cli, study)
    assert code == 1
    failed, converted = report["rows"]
    assert failed["status"] == "failed" and failed["column"] == "phy_dir"
    assert failed["reason"].startswith(
        "objects.1 (PhySortingInterface): cannot read the source: SyntaxError"
    )
    assert converted["status"] == "converted"
    assert not (study / "nwb" / "sub-M-701_ses-sglx01.nwb").exists()


def test_without_neuroconv_the_error_says_how_to_install_it(
    cli, study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "neuroconv", None)  # `import neuroconv` now fails
    monkeypatch.setitem(sys.modules, "neuroconv.datainterfaces", None)
    result = cli("convert", "-w", str(study))
    assert result.exit_code == 2
    assert "uses NeuroConv (kind: neuroconv), which is not installed" in result.stderr
    assert "(fix: pip install 'publishkit[neuroconv]')" in result.stderr
    assert not (study / "nwb").exists()


def test_publishkit_imports_neuroconv_only_for_templates_that_use_it(tmp_path: Path) -> None:
    """Listing templates (NeuroConv ones too) and converting with publishkit's own kinds leave
    NeuroConv unimported: publishkit without the extra runs as before."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from publishkit.cli.app import app\n"
        "runner = CliRunner()\n"
        f"work = {str(tmp_path / 'w')!r}\n"
        "for args in (['templates', 'list'], ['init', work, '--template', 'timeseries'],\n"
        "             ['convert', '-w', work]):\n"
        "    result = runner.invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "      ('neuroconv', 'spikeinterface', 'roiextractors', 'neo')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_test_extra_installs_what_the_neuroconv_extra_does() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras["neuroconv"]) <= set(extras["test"])
    assert not any("[full]" in requirement for requirement in extras["neuroconv"])


def test_inputs_may_not_leave_the_source_folder(cli, study: Path) -> None:
    path = own_template(
        study, "      stream_id: imec0.ap\n", '      stream_id: imec0.ap\n    inputs: ["../*"]\n'
    )
    result = cli("convert", "-w", str(study))
    assert result.exit_code == 2
    assert f"{path} line 30: objects.0.inputs.0: '../*' should not be valid" in result.stderr


def test_a_file_linked_from_outside_into_a_source_folder_is_not_read(
    cli, study: Path, tmp_path: Path
) -> None:
    """NeuroConv reads a source folder whole (Phy) or a file and its siblings (SpikeGLX): a
    symlink there to a file outside the workspace fails the row, unread."""
    secret = tmp_path / "outside" / "secret.tsv"
    secret.parent.mkdir()
    secret.write_text("s3cr3t-outside\n")
    _, phy = first_session(study)
    (phy / "cluster_info.tsv").symlink_to(secret)
    code, report = convert(cli, study)
    assert code == 1
    failed = [r for r in report["rows"] if r["status"] == "failed"]
    assert [r["row"] for r in failed] == [1]
    assert (
        f"cluster_info.tsv is a symlink to {secret.resolve()}, outside the workspace"
        in (failed[0]["reason"])
    )
    assert "s3cr3t" not in json.dumps(report)
    assert not (study / "nwb" / "sub-M-701_ses-sglx01.nwb").exists()
