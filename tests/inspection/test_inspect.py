"""`publishkit inspect`: the real nwbinspector and dandi-cli on real and generated NWB files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.corpus import real_nwb_corpus
from tests.nwbfactory import write_nwb


@pytest.fixture(scope="module")
def nwb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """good: passes; nosubject: CRITICAL; badage: DANDI cannot parse it; nosession."""
    root = tmp_path_factory.mktemp("nwb")
    write_nwb(root / "good.nwb", session_id="ses-1", subject_id="mouse-1")
    write_nwb(root / "nosubject.nwb", session_id="ses-2", subject_id=None)
    write_nwb(root / "badage.nwb", session_id="ses-3", subject_id="mouse-3", age="ninety days")
    write_nwb(root / "nosession.nwb", session_id=None, subject_id="mouse-4")
    return root


def copy(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, dest / src.name))


def report(result: Any) -> dict[str, Any]:
    return json.loads(result.stdout)


def checks_of(document: dict[str, Any], file_name: str) -> set[tuple[str, str, str]]:
    return {
        (m["source"], m["importance"], m["check_function_name"])
        for m in document["messages"]
        if Path(m["file_path"]).name == file_name
    }


def test_a_good_file_passes_and_a_critical_finding_fails(cli, nwb_dir: Path, tmp_path) -> None:
    good = cli("inspect", str(nwb_dir / "good.nwb"))
    assert good.exit_code == 0, good.stdout
    assert "PASSED: 1 file(s)" in good.stdout

    bad = cli("inspect", str(nwb_dir / "nosubject.nwb"))
    assert bad.exit_code == 1
    assert "nosubject.nwb: CRITICAL check_subject_exists" in bad.stdout
    assert "FAILED: " in bad.stdout


def test_fail_on_lowers_the_bar(cli, nwb_dir: Path) -> None:
    result = cli("inspect", str(nwb_dir / "good.nwb"), "--fail-on", "BEST_PRACTICE_SUGGESTION")
    assert result.exit_code == 1
    assert "check_keywords" in result.stdout


def test_dandi_and_organize_checks_report_what_upload_would_reject(cli, nwb_dir: Path) -> None:
    result = cli("inspect", str(nwb_dir), "--format", "json")
    assert result.exit_code == 1
    document = report(result)
    assert ("dandi", "CRITICAL", "check_dandi_asset_metadata") in checks_of(document, "badage.nwb")
    message = next(
        m["message"]
        for m in document["messages"]
        if m["check_function_name"] == "check_dandi_asset_metadata"
    )
    assert "Cannot parse age 'ninety days'" in message
    assert ("publishkit", "CRITICAL", "check_dandi_organize_subject_id") in checks_of(
        document, "nosubject.nwb"
    )
    assert ("publishkit", "BEST_PRACTICE_VIOLATION", "check_dandi_organize_session_id") in (
        checks_of(document, "nosession.nwb")
    )
    assert not any(s == "dandi" for s, _, _ in checks_of(document, "good.nwb"))


def test_json_report_has_nwbinspector_shape(cli, nwb_dir: Path) -> None:
    document = report(cli("inspect", str(nwb_dir / "nosubject.nwb"), "-f", "json"))
    assert {"Timestamp", "Platform", "NWBInspector_version"} <= set(document["header"])
    assert document["header"]["passed"] is False
    message = document["messages"][0]
    assert set(message) == {
        "message",
        "importance",
        "severity",
        "check_function_name",
        "object_type",
        "object_name",
        "location",
        "file_path",
        "source",
    }
    ranks = [
        "ERROR",
        "PYNWB_VALIDATION",
        "CRITICAL",
        "BEST_PRACTICE_VIOLATION",
        "BEST_PRACTICE_SUGGESTION",
    ]
    order = [ranks.index(m["importance"]) for m in document["messages"]]
    assert order == sorted(order)  # most important first


def test_unreadable_files_fail_with_their_reason_and_the_rest_is_inspected(
    cli, nwb_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    good = copy(nwb_dir / "good.nwb", folder)
    truncated = folder / "truncated.nwb"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (folder / "notes.nwb").write_text("these are lab notes, not HDF5\n")

    result = cli("inspect", str(folder), "-f", "json")

    assert result.exit_code == 1
    document = report(result)
    assert sorted(Path(p).name for p in document["header"]["unreadable_files"]) == [
        "notes.nwb",
        "truncated.nwb",
    ]
    for name in ("notes.nwb", "truncated.nwb"):
        (error,) = [m for m in document["messages"] if Path(m["file_path"]).name == name]
        assert error["importance"] == "ERROR"
        assert "unable to read the file" in error["check_function_name"]
        assert error["message"]  # the reason
    assert ("nwbinspector", "BEST_PRACTICE_SUGGESTION", "check_keywords") in checks_of(
        document, "good.nwb"
    )


def test_unreadable_file_fails_even_with_a_lenient_fail_on(cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nwb"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    result = cli("inspect", str(broken), "--fail-on", "ERROR")
    assert result.exit_code == 1
    assert "1 unreadable file(s)" in result.stdout


def test_findings_are_cached_by_content_and_config(cli, nwb_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cached"
    for name in ("good.nwb", "nosubject.nwb"):
        copy(nwb_dir / name, folder)
    first = report(cli("inspect", str(folder), "-f", "json"))
    again = report(cli("inspect", str(folder), "-f", "json"))
    assert first["header"]["files_from_cache"] == 0
    assert again["header"]["files_from_cache"] == 2
    assert again["messages"] == first["messages"]

    write_nwb(folder / "good.nwb", session_id="ses-9", subject_id="mouse-9")  # new content
    changed = report(cli("inspect", str(folder), "-f", "json"))
    assert changed["header"]["files_from_cache"] == 1

    other_config = report(cli("inspect", str(folder), "--config", "none", "-f", "json"))
    assert other_config["header"]["files_from_cache"] == 0


def test_parallel_jobs_give_the_same_findings(cli, nwb_dir: Path) -> None:
    serial = report(cli("inspect", str(nwb_dir), "-f", "json", "--jobs", "1"))
    parallel = report(
        cli("inspect", str(nwb_dir), "-f", "json", "--jobs", "2", "--config", "dandi", "--no-dandi")
    )
    without_dandi = [m for m in serial["messages"] if m["source"] == "nwbinspector"]
    assert Counter(json.dumps(m, sort_keys=True) for m in parallel["messages"]) == Counter(
        json.dumps(m, sort_keys=True) for m in without_dandi
    )


def test_junit_report(cli, nwb_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.xml"
    result = cli(
        "inspect",
        str(nwb_dir / "good.nwb"),
        str(nwb_dir / "nosubject.nwb"),
        "--format",
        "junit",
        "--output",
        str(out),
    )
    assert result.exit_code == 1
    assert "FAILED" in result.stdout
    suite = ET.parse(out).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {Path(c.get("name", "")).name: c for c in suite.iter("testcase")}
    assert cases["good.nwb"].find("failure") is None
    failure = cases["nosubject.nwb"].find("failure")
    assert failure is not None and "check_subject_exists" in (failure.text or "")


def test_workspace_config_is_merged_not_replaced(cli, nwb_dir: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    copy(nwb_dir / "nosubject.nwb", ws / "data")
    copy(nwb_dir / "nosession.nwb", ws / "data")
    (ws / "publishkit.yaml").write_text(
        "project: demo\n"
        "inspection:\n"
        "  importance:\n"
        "    check_subject_exists: BEST_PRACTICE_SUGGESTION\n"
        "  skip: [check_keywords]\n"
        "  suppress:\n"
        "    - check: check_dandi_organize_subject_id\n"
        "      paths: data/nosubject.nwb\n"
        "      reason: the subject is recorded in the lab's table, added at conversion\n"
    )
    result = cli("inspect", "-f", "json", "-w", str(ws))
    assert result.exit_code == 0, result.stdout
    document = report(result)
    found = {
        (m["file_path"], m["importance"], m["check_function_name"]) for m in document["messages"]
    }
    assert ("data/nosubject.nwb", "BEST_PRACTICE_SUGGESTION", "check_subject_exists") in found
    assert not any(check == "check_keywords" for _, _, check in found)
    (suppressed,) = document["suppressed"]
    assert suppressed["check_function_name"] == "check_dandi_organize_subject_id"
    assert suppressed["suppressed_because"].startswith("the subject is recorded")


def test_the_dandi_base_holds_under_the_workspace_changes_which_reach_every_check(
    cli, nwb_dir: Path, tmp_path: Path
) -> None:
    """importance and skip change the checks they name, publishkit's and DANDI's too; every
    other check keeps the level the dandi config gives it (not nwbinspector's default)."""
    ws = tmp_path / "ws"
    write_nwb(ws / "data" / "common.nwb", session_id="ses-5", subject_id="m5", species="mouse")
    copy(nwb_dir / "nosubject.nwb", ws / "data")
    copy(nwb_dir / "nosession.nwb", ws / "data")
    (ws / "publishkit.yaml").write_text(
        "project: demo\n"
        "inspection:\n"
        "  importance: {check_dandi_organize_session_id: CRITICAL}\n"
        "  skip: [check_dandi_organize_subject_id, check_keywords]\n"
    )
    result = cli("inspect", "-f", "json", "-w", str(ws))
    assert result.exit_code == 1, result.stdout
    document = report(result)
    # CRITICAL in the dandi config, BEST_PRACTICE_VIOLATION in nwbinspector's defaults
    assert ("nwbinspector", "CRITICAL", "check_subject_species_form") in checks_of(
        document, "common.nwb"
    )
    assert checks_of(document, "nosession.nwb") >= {
        ("publishkit", "CRITICAL", "check_dandi_organize_session_id")
    }
    assert {check for _, _, check in checks_of(document, "nosubject.nwb")} >= {
        "check_subject_exists"
    }
    checks = {m["check_function_name"] for m in document["messages"]}
    assert not checks & {"check_dandi_organize_subject_id", "check_keywords"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.nwb"], "missing.nwb: no such file or folder"),
        (["empty"], "no .nwb files in"),
        (["--config", "nope.yaml", "x.nwb"], "inspection config"),
        ([], "no PATH given and no publishkit.yaml"),
    ],
)
def test_bad_input_exits_2(cli, tmp_path: Path, nwb_dir: Path, args: list[str], message: str):
    (tmp_path / "empty").mkdir()
    copy(nwb_dir / "good.nwb", tmp_path).rename(tmp_path / "x.nwb")
    result = cli("inspect", *args, cwd=tmp_path)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_inspection_section_names_the_line(cli, tmp_path: Path) -> None:
    (tmp_path / "publishkit.yaml").write_text(
        "project: demo\ninspection:\n  importance:\n    check_subject_exists: URGENT\n"
    )
    result = cli("inspect", cwd=tmp_path)
    assert result.exit_code == 2
    assert "line 4: inspection.importance.check_subject_exists" in result.stderr


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)]
)
def test_a_missing_corpus_skips_but_fails_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no NWB files") as raised:
        real_nwb_corpus(tmp_path / "absent")
    assert type(raised.value) is outcome  # a failure is not a skip, nor the other way round


@pytest.mark.slow
def test_same_findings_as_nwbinspector_on_the_real_corpus(cli, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(real_nwb_corpus(), corpus)
    theirs_path = tmp_path / "nwbinspector.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "nwbinspector"),
            str(corpus),
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

    result = cli("inspect", str(corpus), "--config", "dandi", "-f", "json")
    ours = [m for m in report(result)["messages"] if m["source"] == "nwbinspector"]

    def key(m: dict[str, Any]) -> tuple[Any, ...]:
        return (
            Path(m["file_path"]).name,
            m["importance"],
            m["check_function_name"],
            m["location"],
            m["object_type"],
            m["object_name"],
            m["severity"],
            m["message"],  # an ERROR's too: the same traceback, through nwbinspector's frames
        )

    assert len(theirs) > 100
    assert any(m["importance"] == "ERROR" for m in theirs)  # checks that crashed on real files
    assert Counter(map(key, ours)) == Counter(map(key, theirs))


def test_specifications_kept_across_runs_give_the_same_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loaded specification is kept (pickled per pynwb/hdmf version) for the next run; the
    findings are those of loading it from the file, and a damaged copy is loaded afresh."""
    from publishkit.inspection import specs as inspect_specs
    from publishkit.inspection import worker as inspect_worker

    files = sorted(str(p) for p in real_nwb_corpus().rglob("*.nwb"))[:8]
    files.append(str(write_nwb(tmp_path / "generated.nwb")))
    specs = tmp_path / "specs"
    inspect_specs._SPECS.clear()
    fresh = [inspect_worker.inspect_path(f, None, True, None) for f in files]
    inspect_specs._SPECS.clear()
    stored = [inspect_worker.inspect_path(f, None, True, str(specs)) for f in files]
    kept = sorted(specs.glob("*.pickle"))
    assert kept and all(p.stat().st_size > 0 for p in kept)
    import pynwb.validation

    loads_from_files = []
    load = pynwb.validation.get_cached_namespaces_to_validate
    monkeypatch.setattr(
        pynwb.validation,
        "get_cached_namespaces_to_validate",
        lambda **kw: loads_from_files.append(kw) or load(**kw),
    )
    inspect_specs._SPECS.clear()  # a new run: only what is on disk is known
    loaded = [inspect_worker.inspect_path(f, None, True, str(specs)) for f in files]
    # every cached specification came from its kept copy (files caching none take pynwb's path)
    without_spec = {f for f in files if inspect_specs.spec_signature(f) is None}
    assert {call["path"] for call in loads_from_files} == without_spec != set(files)
    loads_from_files.clear()
    for damaged in kept:
        damaged.write_bytes(b"not a pickle")
    inspect_specs._SPECS.clear()
    reloaded = [inspect_worker.inspect_path(f, None, True, str(specs)) for f in files]
    # damaged copies: each specification is loaded from a file again
    assert len({call["path"] for call in loads_from_files} - without_spec) == len(kept)
    assert fresh == stored == loaded == reloaded
    assert any(result["findings"] for result in fresh)


def test_a_cached_report_names_the_file_inspected_not_the_one_first_cached(
    cli, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.nwb", tmp_path / "second.nwb"
    first.write_bytes(b"not an NWB file at all")
    second.write_bytes(first.read_bytes())  # the same bytes: the same cache entry
    fresh = report(cli("inspect", str(first), "-f", "json"))
    cached = report(cli("inspect", str(second), "-f", "json"))
    assert cached["header"]["files_from_cache"] == 1
    assert "first.nwb" in json.dumps(fresh["messages"])
    assert "first.nwb" not in json.dumps(cached)
    assert "second.nwb" in cached["messages"][0]["message"]
    again = report(cli("inspect", str(first), "-f", "json"))  # a hit of second's entry
    assert again["messages"] == fresh["messages"]
