"""`publishkit init`, `convert` and `templates`: rows in, NWB files out, failures isolated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from publishkit.nwb.templates import builtin_dir
from tests.studies import repeat_first_session


@pytest.fixture
def study(cli, tmp_path: Path) -> Path:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    return workspace


def convert(cli, workspace: Path, *args: str) -> tuple[int, dict]:
    result = cli("convert", "-w", str(workspace), "--format", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_templates_list_and_show(cli) -> None:
    listed = cli("templates", "list", "--format", "json")
    assert listed.exit_code == 0
    names = {t["name"]: t["description"] for t in json.loads(listed.stdout)}
    assert "timeseries" in names and len(names["timeseries"]) > 10
    shown = cli("templates", "show", "timeseries")
    assert shown.exit_code == 0
    assert "# timeseries" in shown.stdout and "kind: timeseries" in shown.stdout
    unknown = cli("templates", "show", "nope")
    assert unknown.exit_code == 2 and "template 'nope' not found" in unknown.stderr


def test_init_makes_a_workspace_that_converts(cli, study: Path) -> None:
    assert "template: timeseries" in (study / "publishkit.yaml").read_text()
    code, report = convert(cli, study)
    assert code == 0
    assert report["counts"] == {"converted": 2, "unchanged": 0, "failed": 0}
    assert sorted(p.name for p in (study / "nwb").iterdir()) == [
        "sub-M-101_ses-ts01.nwb",
        "sub-M-102_ses-ts02.nwb",
    ]


def test_init_refuses_a_folder_in_use(cli, tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    result = cli("init", str(used), "--template", "timeseries")
    assert result.exit_code == 2
    assert "not an empty folder; nothing was changed" in result.stderr
    assert sorted(p.name for p in used.iterdir()) == ["keep.txt"]


def test_a_failing_row_is_reported_and_the_others_convert(cli, study: Path) -> None:
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("data/ts02_signals.csv", "data/missing.csv"))
    result = cli("convert", "-w", str(study))
    assert result.exit_code == 1
    assert (
        "sessions.csv row 2 (line 3), column source: source: source file data/missing.csv "
        "does not exist" in result.stderr
    )
    assert "1 converted, 0 unchanged, 1 failed" in result.stdout
    assert (study / "nwb" / "sub-M-101_ses-ts01.nwb").is_file()
    assert not (study / "nwb" / "sub-M-102_ses-ts02.nwb").exists()


def test_bad_source_data_names_the_object_and_column(cli, study: Path) -> None:
    signals = study / "data" / "ts01_signals.csv"
    signals.write_text(signals.read_text().replace("temperature", "temp", 1))
    code, report = convert(cli, study)
    assert code == 1
    failed = [r for r in report["rows"] if r["status"] == "failed"]
    assert [(r["row"], r["column"]) for r in failed] == [(1, "temperature")]
    assert (
        "objects.0 (timeseries): ts01_signals.csv: no column 'temperature'" in failed[0]["reason"]
    )


def test_a_placeholder_naming_a_missing_column(cli, study: Path) -> None:
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("experimenter,", "lab_member,", 1))
    code, report = convert(cli, study)
    assert code == 1
    assert {(r["column"], r["status"]) for r in report["rows"]} == {("experimenter", "failed")}
    assert "the sessions table has no column 'experimenter'" in report["rows"][0]["reason"]


def test_unchanged_rows_are_skipped_and_changed_inputs_reconverted(cli, study: Path) -> None:
    assert convert(cli, study)[1]["counts"]["converted"] == 2
    assert convert(cli, study)[1]["counts"] == {"converted": 0, "unchanged": 2, "failed": 0}
    signals = study / "data" / "ts02_signals.csv"
    signals.write_text(signals.read_text().replace("37.", "36.", 1))
    again = convert(cli, study, "--jobs", "2")[1]
    assert again["counts"] == {"converted": 1, "unchanged": 1, "failed": 0}
    assert [r["row"] for r in again["rows"] if r["status"] == "converted"] == [2]


def test_user_templates_and_a_change_to_the_template(cli, study: Path) -> None:
    shutil.copytree(builtin_dir() / "timeseries", study / "my-templates" / "signals")
    mine = study / "my-templates" / "signals" / "template.yaml"
    mine.write_text(mine.read_text().replace("name: timeseries", "name: signals"))
    (study / "publishkit.yaml").write_text(
        "project: study\nconversion:\n  template: signals\n  templates_dir: my-templates\n"
    )
    assert convert(cli, study)[1]["counts"]["converted"] == 2
    mine.write_text(mine.read_text().replace("lab: Example lab", "lab: Another lab"))
    assert convert(cli, study)[1]["counts"]["converted"] == 2  # the template changed
    listed = json.loads(cli("templates", "list", "-f", "json", "-w", str(study)).stdout)
    assert "signals" in {t["name"] for t in listed}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    unit: g\n", "    unit: 7\n", "line 35: objects.1.unit: 7 is not of type 'string'"),
        (
            "  - kind: timeseries\n    name: accelerometer",
            "  - kind: spikes\n    name: accelerometer",
            "line 31: objects.1.kind: unknown kind 'spikes'",
        ),
        ('  sex: "{{ row.sex }}"\n', "", "line 15: subject: 'sex' is a required property"),
    ],
)
def test_a_broken_template_names_file_line_and_field(
    cli, study: Path, old: str, new: str, expected: str
) -> None:
    shutil.copytree(builtin_dir() / "timeseries", study / "tpl" / "timeseries")
    path = study / "tpl" / "timeseries" / "template.yaml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    (study / "publishkit.yaml").write_text(
        "project: study\nconversion:\n  template: timeseries\n  templates_dir: tpl\n"
    )
    result = cli("convert", "-w", str(study))
    assert result.exit_code == 2
    assert f"{path} {expected}" in result.stderr


def test_templates_run_no_code(cli, study: Path) -> None:
    """The sandbox refuses attribute games that would reach Python internals."""
    shutil.copytree(builtin_dir() / "timeseries", study / "tpl" / "timeseries")
    path = study / "tpl" / "timeseries" / "template.yaml"
    path.write_text(
        path.read_text().replace(
            "lab: Example lab", 'lab: "{{ row.__class__.__mro__[1].__subclasses__() }}"'
        )
    )
    (study / "publishkit.yaml").write_text(
        "project: study\nconversion:\n  template: timeseries\n  templates_dir: tpl\n"
    )
    code, report = convert(cli, study)
    assert code == 1
    assert all("unsafe" in r["reason"] or "not safely" in r["reason"] for r in report["rows"])


def test_rows_with_the_same_output_name_are_refused(cli, study: Path) -> None:
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("ts02,M-102", "ts01,M-101"))
    code, report = convert(cli, study)
    assert code == 1
    (failed,) = [r for r in report["rows"] if r["status"] == "failed"]
    assert failed["row"] == 2 and "also the output of row 1" in failed["reason"]


def test_convert_without_a_conversion_section(cli, tmp_path: Path) -> None:
    (tmp_path / "publishkit.yaml").write_text("project: p\n")
    result = cli("convert", "-w", str(tmp_path))
    assert result.exit_code == 2
    assert "no conversion section" in result.stderr


@pytest.mark.parametrize(
    "placeholder",
    [
        "{{ row.session_id * 100000000000 }}",  # 400 GB: MemoryError, before the limit
        "{{ 'x' * 10**20 }}",  # OverflowError, before the limit
        "{{ [row.session_id] * 10**7 }}",
        "{{ 10 ** 100000000 }}",  # a number of 100 million digits
        "{% for i in range(100000) %}{{ row.session_id * 5 }}{% endfor %}",  # 2 MB, in pieces
    ],
)
def test_a_placeholder_rendering_a_huge_value_is_a_row_error(
    cli, study: Path, placeholder: str
) -> None:
    shutil.copytree(builtin_dir() / "timeseries", study / "tpl" / "timeseries")
    path = study / "tpl" / "timeseries" / "template.yaml"
    path.write_text(path.read_text().replace("lab: Example lab", f'lab: "{placeholder}"'))
    (study / "publishkit.yaml").write_text(
        "project: study\nconversion:\n  template: timeseries\n  templates_dir: tpl\n"
    )
    result = cli("convert", "-w", str(study))
    assert result.exit_code == 1  # as for any row that fails to convert
    for row in (1, 2):
        assert (
            f"sessions.csv row {row} (line {row + 1}), column nwbfile.lab: nwbfile.lab: the "
            "rendered value would pass the limit of 1,000,000 characters for one template value; "
            "make the placeholder build less" in result.stderr
        )
    assert "0 converted, 0 unchanged, 2 failed" in result.stdout
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert not (study / "nwb").exists()


def test_a_placeholder_that_fails_for_a_row_names_the_field(cli, study: Path) -> None:
    shutil.copytree(builtin_dir() / "timeseries", study / "tpl" / "timeseries")
    path = study / "tpl" / "timeseries" / "template.yaml"
    path.write_text(path.read_text().replace("lab: Example lab", 'lab: "{{ row.age + 1 }}"'))
    (study / "publishkit.yaml").write_text(
        "project: study\nconversion:\n  template: timeseries\n  templates_dir: tpl\n"
    )
    code, report = convert(cli, study)
    assert code == 1
    assert {(r["column"], r["reason"]) for r in report["rows"]} == {
        ("nwbfile.lab", 'nwbfile.lab: TypeError: can only concatenate str (not "int") to str')
    }


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_an_interrupt_starts_no_more_rows_and_a_rerun_resumes(cli, study: Path, jobs: int) -> None:
    """Interrupted after its first row (Ctrl-C whose KeyboardInterrupt was swallowed, as the
    core sees it), convert starts no row after it: one in this process, at most the ones
    already handed to a worker with --jobs 2, which finish before it returns. The next run
    converts the rest."""
    from publishkit.errors import Interrupted
    from publishkit.nwb.convert import convert_sessions
    from publishkit.workspace.config import load_settings

    rows = 10
    repeat_first_session(study, rows)
    asked: list[str] = []

    def stop(before: str) -> None:
        asked.append(before)
        raise Interrupted(f"interrupted by SIGINT before {before}")

    with pytest.raises(Interrupted):
        convert_sessions(settings=load_settings(study), jobs=jobs, interrupt=stop)
    assert asked == ["the conversion of the rows left"]
    converted = len(list((study / "nwb").glob("*.nwb")))
    # with workers: the row done, those running, and the pool's call queue (jobs + 1 rows)
    assert converted == 1 if jobs == 1 else 1 <= converted <= 1 + jobs + jobs + 1 < rows
    assert not (study / "nwb_files.csv").exists()
    assert not list((study / "nwb").glob(".*.part"))

    code, report = convert(cli, study)
    assert code == 0
    assert report["counts"]["converted"] + report["counts"]["unchanged"] == rows
    assert report["counts"]["unchanged"] >= 1
