"""`publishkit inspect`'s reports as a CI reads them: JUnit parsed by the standard library,
the JSON report against nwbinspector's own, and GitHub Actions workflow commands; on real files
with a duplicated identifier, a check that crashes and a file that cannot be read."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hdmf.common import VectorData, VectorIndex
from pynwb import NWBHDF5IO
from pynwb.misc import Units

from publishkit.inspection.inspect_files import Finding, InspectedFile, InspectionReport
from publishkit.inspection.report import as_junit, workflow_command
from tests.nwbfactory import write_nwb

LEVELS = ["ERROR", "PYNWB_VALIDATION", "CRITICAL", "BEST_PRACTICE_VIOLATION"]
LEVELS += ["BEST_PRACTICE_SUGGESTION"]
_VALUE = r"(?:[^%,:\r\n]|%(?:25|0D|0A|3A|2C))*"
# GitHub's grammar, escapes included: ::command key=value,key=value::message
WORKFLOW_COMMAND = re.compile(
    rf"::(?:error|warning|notice)(?: (?:file|title)={_VALUE}(?:,(?:file|title)={_VALUE})*)?"
    r"::(?:[^%\r\n]|%(?:25|0D|0A))*"
)
CRASHED = "During evaluation of 'check_units_table_duration' - <class 'TypeError'>"


def write_crashing_units(path: Path) -> Path:
    """A readable file whose units table indexes spike_times with int64 (the schema asks for an
    unsigned type): nwbinspector's check_units_table_duration then indexes h5py with floats and
    raises TypeError."""
    write_nwb(path)
    with NWBHDF5IO(str(path), "a") as io:
        nwbfile = io.read()
        times = VectorData(name="spike_times", description="times", data=[0.1, 0.2, 1.0, 2.0])
        index = VectorIndex(name="spike_times_index", data=[2, 4], target=times)
        nwbfile.units = Units(name="units", columns=[times, index], id=[0, 1])
        io.write(nwbfile)
    with h5py.File(path, "a") as handle:  # pynwb writes uint8: rewrite it as int64
        old = handle["units/spike_times_index"]
        attributes, data = dict(old.attrs), old[()]
        del handle["units/spike_times_index"]
        new = handle["units"].create_dataset("spike_times_index", data=data.astype(np.int64))
        new.attrs.update(attributes)
    return path


@pytest.fixture(scope="module")
def ci_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """good.nwb; twin-1 and twin-2 share an identifier; crashed.nwb makes a check raise;
    unreadable.nwb is no HDF5 file."""
    root = tmp_path_factory.mktemp("ci")
    write_nwb(root / "good.nwb", session_id="ses-1", subject_id="mouse-1")
    write_nwb(root / "twin-1.nwb", session_id="ses-2", subject_id="mouse-2", identifier="twin")
    write_nwb(root / "twin-2.nwb", session_id="ses-3", subject_id="mouse-3", identifier="twin")
    write_crashing_units(root / "crashed.nwb")
    (root / "unreadable.nwb").write_text("these are lab notes, not HDF5\n")
    return root


def at_or_above(level: str, fail_on: str) -> bool:
    return LEVELS.index(level) <= LEVELS.index(fail_on)


def files_of(message: dict[str, Any]) -> list[str]:
    return message.get("file_paths") or [message["file_path"]]


def test_junit_fails_a_test_case_for_every_finding_at_or_above_the_fail_level(
    cli, ci_dir: Path, tmp_path: Path
) -> None:
    xml = tmp_path / "inspect.xml"
    junit = cli("inspect", str(ci_dir), "--format", "junit", "--output", str(xml))
    document = json.loads(cli("inspect", str(ci_dir), "--format", "json").stdout)
    console = cli("inspect", str(ci_dir))
    assert junit.exit_code == console.exit_code == 1

    suite = ET.parse(xml).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    inspected = sorted(str(p) for p in ci_dir.glob("*.nwb"))
    assert sorted(cases) == inspected
    assert suite.get("tests") == str(document["header"]["files"]) == "5"

    failing = [m for m in document["messages"] if at_or_above(m["importance"], "CRITICAL")]
    for message in failing:
        for path in files_of(message):
            (verdict,) = [e for e in cases[path] if e.tag in ("failure", "error")]
            assert message["check_function_name"] in (verdict.text or "")
            assert message["message"].strip() in (verdict.text or "")
    for message in document["messages"]:
        if message not in failing:
            for path in files_of(message):
                assert message["check_function_name"] in cases[path].findtext("system-out", "")
    checks = {m["check_function_name"] for m in failing}
    assert "check_unique_identifiers" in checks
    assert any(check.startswith(CRASHED) for check in checks)
    assert any(check.startswith("During io.read(), an error occurred") for check in checks)

    # the cross-file finding: nwbinspector's file_path, and each file it is about
    (twins,) = [m for m in failing if m["check_function_name"] == "check_unique_identifiers"]
    assert twins["file_path"] == "twin-2.nwb"
    assert twins["file_paths"] == [str(ci_dir / "twin-1.nwb"), str(ci_dir / "twin-2.nwb")]

    # counts of files inspected, the same everywhere
    failed = [name for name, case in cases.items() if case.find("failure") is not None]
    errors = [name for name, case in cases.items() if case.find("error") is not None]
    header = document["header"]
    expected = sorted(str(ci_dir / n) for n in ("crashed.nwb", "twin-1.nwb", "twin-2.nwb"))
    assert sorted(failed) == sorted(header["failing_files"]) == expected
    assert suite.get("failures") == "3" and suite.get("errors") == "1"
    assert errors == header["unreadable_files"] == [str(ci_dir / "unreadable.nwb")]
    about_readable = [m for m in failing if set(files_of(m)) - set(errors)]
    assert header["failing_findings"] == len(about_readable)
    assert (
        f"FAILED: {len(about_readable)} finding(s) at or above CRITICAL in 3 file(s); "
        "1 unreadable file(s) (5 file(s), 5 from cache)"
    ) in console.stdout


def test_junit_at_a_lower_fail_level_fails_on_every_finding(cli, ci_dir: Path) -> None:
    result = cli("inspect", str(ci_dir), "-f", "junit", "--fail-on", "BEST_PRACTICE_SUGGESTION")
    suite = ET.fromstring(result.stdout)
    assert suite.get("tests") == "5" and suite.get("failures") == "4"
    assert not list(suite.iter("system-out"))  # nothing is below the bar


def test_errors_are_nwbinspectors_own_messages(cli, ci_dir: Path, tmp_path: Path) -> None:
    """The message of an unreadable file, and of a check that crashed, is the whole traceback
    nwbinspector writes in its JSON report for the same file; the console shows its last line."""
    folder = tmp_path / "errors"
    folder.mkdir()
    for name in ("crashed.nwb", "unreadable.nwb"):
        shutil.copy(ci_dir / name, folder / name)
    good = (ci_dir / "good.nwb").read_bytes()
    (folder / "truncated.nwb").write_bytes(good[: len(good) // 3])
    theirs_path = tmp_path / "nwbinspector.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "nwbinspector"),
            str(folder),
            "--config",
            "dandi",
            "--json-file-path",
            str(theirs_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert theirs_path.exists(), done.stderr
    theirs = json.loads(theirs_path.read_text())["messages"]
    result = cli("inspect", str(folder), "--config", "dandi", "-f", "json")
    ours = [m for m in json.loads(result.stdout)["messages"] if m["source"] == "nwbinspector"]

    def key(m: dict[str, Any]) -> str:
        return json.dumps(
            {**m, "file_path": Path(m["file_path"]).name, "source": None}, sort_keys=True
        )

    errors = [m for m in theirs if m["importance"] == "ERROR"]
    assert len(errors) == 3 and all(m["message"].startswith("Traceback") for m in errors)
    assert Counter(map(key, ours)) == Counter(map(key, theirs))

    console = cli("inspect", str(folder / "unreadable.nwb"))
    assert console.exit_code == 1
    assert "unreadable.nwb: ERROR During io.read(), an error occurred: builtins.ValueError" in (
        console.stdout
    )
    assert console.stdout.count("ValueError: Unable to read file:") == 1
    assert "Traceback" not in console.stdout


def test_parallel_jobs_report_the_same(
    cli, ci_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = json.loads(cli("inspect", str(ci_dir), "-f", "json", "--jobs", "1").stdout)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-cache"))
    parallel = json.loads(cli("inspect", str(ci_dir), "-f", "json", "--jobs", "2").stdout)
    assert parallel["header"]["files_from_cache"] == 0
    assert parallel["messages"] == serial["messages"]
    for key in ("files", "failing_files", "failing_findings", "unreadable_files"):
        assert parallel["header"][key] == serial["header"][key]


@pytest.mark.parametrize(
    ("paths", "suppressed"), [("data/*.nwb", True), ("data/twin-1.nwb", False)]
)
def test_a_cross_file_finding_is_suppressed_when_rules_cover_all_its_files(
    cli, ci_dir: Path, tmp_path: Path, paths: str, suppressed: bool
) -> None:
    for name in ("twin-1.nwb", "twin-2.nwb"):
        (tmp_path / "data").mkdir(exist_ok=True)
        shutil.copy(ci_dir / name, tmp_path / "data" / name)
    (tmp_path / "publishkit.yaml").write_text(
        "project: demo\n"
        "inspection:\n"
        "  suppress:\n"
        "    - check: check_unique_identifiers\n"
        f"      paths: {paths}\n"
        "      reason: the twins are one session, split in two files\n"
    )
    result = cli("inspect", "-f", "json", "-w", str(tmp_path))
    document = json.loads(result.stdout)
    where = "suppressed" if suppressed else "messages"
    (twins,) = [
        m for m in document[where] if m["check_function_name"] == "check_unique_identifiers"
    ]
    assert twins["file_paths"] == ["data/twin-1.nwb", "data/twin-2.nwb"]
    assert result.exit_code == (0 if suppressed else 1)
    assert document["header"]["failing_files"] == ([] if suppressed else twins["file_paths"])


def test_github_annotations_are_workflow_commands_on_the_files(cli, tmp_path: Path) -> None:
    write_nwb(tmp_path / "gh" / "a,b.nwb", subject_id=None, identifier="x")
    write_nwb(tmp_path / "gh" / "c.nwb", identifier="x")
    result = cli("inspect", "gh", "--format", "github", "--no-dandi", cwd=tmp_path)
    assert result.exit_code == 1
    twins = (
        "CRITICAL at /: The identifier 'x' is used across the .nwb files: ['a,b.nwb', "
        "'c.nwb']. The identifier of any NWBFile should be a completely unique value - we "
        "recommend using uuid4 to achieve this."
    )
    assert result.stdout.splitlines() == [
        "::error file=gh/a%2Cb.nwb,title=check_subject_exists::CRITICAL at /: Subject is missing.",
        f"::error file=gh/a%2Cb.nwb,title=check_unique_identifiers::{twins}",
        f"::error file=gh/c.nwb,title=check_unique_identifiers::{twins}",
        "::warning file=gh/a%2Cb.nwb,title=check_keywords::BEST_PRACTICE_SUGGESTION at /: "
        "Metadata /general/keywords is missing.",
        "::warning file=gh/c.nwb,title=check_keywords::BEST_PRACTICE_SUGGESTION at /: "
        "Metadata /general/keywords is missing.",
        "::error title=publishkit inspect::FAILED: 2 finding(s) at or above CRITICAL in 2 "
        "file(s) (2 file(s), 0 from cache)",
    ]


def test_every_github_line_follows_the_grammar(cli, ci_dir: Path) -> None:
    result = cli("inspect", str(ci_dir), "--format", "github")
    document = json.loads(cli("inspect", str(ci_dir), "--format", "json").stdout)
    lines = result.stdout.splitlines()
    for line in lines:
        assert WORKFLOW_COMMAND.fullmatch(line), line
    # one per finding and file it is about, then the verdict
    assert len(lines) == sum(len(files_of(m)) for m in document["messages"]) + 1
    crashed = next(line for line in lines if "title=During evaluation of" in line)
    assert crashed.startswith(
        f"::error file={ci_dir / 'crashed.nwb'},title=During evaluation of "
        "'check_units_table_duration' - <class 'TypeError'>%3A Indexing arrays must have"
    )
    assert crashed.endswith("::ERROR: TypeError: Indexing arrays must have integer dtypes")

    passed = cli("inspect", str(ci_dir / "good.nwb"), "--format", "github")
    assert passed.exit_code == 0
    assert passed.stdout.splitlines()[-1].startswith("::notice title=publishkit inspect::PASSED")

    refused = cli("inspect", "missing.nwb", "--format", "github")
    assert refused.exit_code == 2
    assert refused.stdout.splitlines() == [
        "::error title=publishkit::missing.nwb: no such file or folder (fix: check the path)"
    ]


def test_workflow_commands_are_escaped_as_github_reads_them() -> None:
    assert (
        workflow_command("error", "50% done\r\nthen: more, and more", file="a,b:c.nwb", title="t")
        == "::error file=a%2Cb%3Ac.nwb,title=t::50%25 done%0D%0Athen: more, and more"
    )
    assert workflow_command("notice", "all good") == "::notice::all good"


def test_junit_of_names_and_messages_with_characters_xml_cannot_hold_parses(
    cli, tmp_path: Path
) -> None:
    """A file name with \\x01 (an unreadable file, whose message quotes its name) and one with
    a finding: the JUnit report still parses, the characters replaced by U+FFFD."""
    folder = tmp_path / "odd"
    folder.mkdir()
    write_nwb(folder / "no\x01subject.nwb", subject_id=None)
    (folder / "lab\x01notes.nwb").write_text("these are lab notes, not HDF5\n")

    result = cli("inspect", str(folder), "--format", "junit")

    assert result.exit_code == 1
    suite = ET.fromstring(result.stdout)  # raises on a character XML 1.0 cannot hold
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert sorted(cases) == [
        str(folder / "lab\ufffdnotes.nwb"),
        str(folder / "no\ufffdsubject.nwb"),
    ]
    error = cases[str(folder / "lab\ufffdnotes.nwb")].find("error")
    assert error is not None and "\x01" not in (error.text or "") + error.get("message", "")
    failure = cases[str(folder / "no\ufffdsubject.nwb")].find("failure")
    assert failure is not None and "check_subject_exists" in (failure.text or "")


@pytest.mark.parametrize(
    "bad",
    [
        "\x00",
        "\x01",
        "\x08",
        "\x0b",
        "\x0c",
        "\x0e",
        "\x1f",
        "\ud800",
        "\udfff",
        "\ufffe",
        "\uffff",
    ],
)
def test_junit_replaces_every_character_xml_1_0_cannot_hold(bad: str) -> None:
    finding = Finding(
        message=f"a value{bad} quoted", importance="CRITICAL", severity="HIGH",
        check_function_name=f"check{bad}", object_type=None, object_name=None,
        location=f"/acquisition/ts{bad}", file_path=f"f{bad}.nwb", source="nwbinspector",
    )  # fmt: skip
    report = InspectionReport(
        files=(InspectedFile(f"f{bad}.nwb", readable=True, cached=False),),
        findings=(finding,),
        suppressed=(),
        fail_on="CRITICAL",
    )
    suite = ET.fromstring(as_junit(report))
    (case,) = suite.iter("testcase")
    assert case.get("name") == "f\ufffd.nwb"
    failure = case.find("failure")
    assert failure is not None
    assert failure.text == "CRITICAL check\ufffd at /acquisition/ts\ufffd: a value\ufffd quoted"
