"""Inspection reports for machines: nwbinspector's JSON shape, and JUnit XML for CI systems."""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from typing import Any

from publishkit.formats.schemas import violations
from publishkit.inspection.stage import InspectionReport
from publishkit.workspace.inspection_settings import rank

REPORT_VERSION = "1"


def as_json(report: InspectionReport) -> dict[str, Any]:
    """`{"header": ..., "messages": [...]}` as nwbinspector writes it, plus publishkit's keys."""
    document = {
        "header": {
            "Timestamp": str(datetime.now().astimezone()),
            "Platform": platform.platform(),
            "NWBInspector_version": report.versions.get("nwbinspector", ""),
            "publishkit_version": report.versions.get("publishkit", ""),
            "report_version": REPORT_VERSION,
            "fail_on": report.fail_on,
            "passed": report.passed,
            "files": len(report.files),
            "files_from_cache": sum(f.cached for f in report.files),
            "unreadable_files": [f.path for f in report.unreadable],
        },
        "messages": [f.as_json() for f in report.findings],
        "suppressed": [f.as_json() for f in report.suppressed],
    }
    problems = violations(document, "inspection-report")
    if problems:  # a bug in this module, never the user's input
        raise AssertionError(f"inspection report breaks its schema: {problems[0]}")
    return document


def summary(report: InspectionReport) -> list[tuple[str, str, int, int]]:
    """(importance, check, files, messages), most important first, then by check name."""
    files: dict[tuple[str, str], set[str]] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for item in report.findings:
        key = (item.importance, item.check_function_name)
        files.setdefault(key, set()).add(item.file_path)
        counts[key] += 1
    keys = sorted(files, key=lambda k: (rank(k[0]), k[1]))
    return [(imp, check, len(files[(imp, check)]), counts[(imp, check)]) for imp, check in keys]


def as_junit(report: InspectionReport) -> str:
    """One test case per file: failed when it has a finding at or above --fail-on."""
    failing = {id(f) for f in report.failing}
    suite = ET.Element(
        "testsuite",
        name="publishkit inspect",
        tests=str(len(report.files)),
        failures=str(sum(1 for f in report.files if _fails(report, f.path, failing))),
        errors=str(len(report.unreadable)),
    )
    for inspected in report.files:
        case = ET.SubElement(suite, "testcase", classname="nwb", name=inspected.path)
        mine = [f for f in report.findings if f.file_path == inspected.path]
        if not inspected.readable:
            reason = next((f.message for f in mine if f.importance == "ERROR"), "unreadable")
            ET.SubElement(case, "error", message=reason).text = reason
        bad = [f for f in mine if id(f) in failing and f.importance != "ERROR"]
        if bad:
            text = "\n".join(
                f"{f.importance} {f.check_function_name} at {f.location}: {f.message}" for f in bad
            )
            ET.SubElement(
                case, "failure", message=f"{len(bad)} finding(s) at or above {report.fail_on}"
            ).text = text
        rest = [f for f in mine if id(f) not in failing]
        if rest:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{f.importance} {f.check_function_name}: {f.message}" for f in rest
            )
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _fails(report: InspectionReport, path: str, failing: set[int]) -> bool:
    return any(id(f) in failing and f.file_path == path for f in report.findings)
