"""Inspection reports for machines: nwbinspector's JSON shape, JUnit XML for CI systems, and
GitHub Actions workflow commands that annotate the files of a pull request.

All count files as inspected: a cross-file finding counts once for each file it is about.
"""

from __future__ import annotations

import platform
import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from typing import Any

from publishkit.formats.schemas import violations
from publishkit.inspection.inspect_files import Finding, InspectionReport
from publishkit.workspace.inspection_settings import rank
from publishkit.workspace.table_checks import TableCheckReport

REPORT_VERSION = "1"
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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
            "failing_files": list(report.failing_files),
            "failing_findings": len(report.failing_readable),
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
        files.setdefault(key, set()).update(item.files)
        counts[key] += 1
    keys = sorted(files, key=lambda k: (rank(k[0]), k[1]))
    return [(imp, check, len(files[(imp, check)]), counts[(imp, check)]) for imp, check in keys]


def brief(message: str) -> str:
    """A message in one line: a traceback's last (the exception raised), else its first."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]


def as_junit(report: InspectionReport, tables: TableCheckReport | None = None) -> str:
    """One test case per file inspected: an error when it is unreadable, a failure when a
    finding at or above --fail-on is about it (a cross-file finding fails each file it names);
    its other findings in its system-out. With `tables`, a second suite with a test case per
    table checked, both in one `testsuites`."""
    suite = _nwb_suite(report)
    if tables is not None:
        both = ET.Element("testsuites")
        both.extend([suite, _tables_suite(tables)])
        suite = both
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _nwb_suite(report: InspectionReport) -> ET.Element:
    failing = {id(f) for f in report.failing}
    about: dict[str, list[Finding]] = {f.path: [] for f in report.files}
    for item in report.findings:
        for path in item.files:
            about.setdefault(path, []).append(item)
    suite = ET.Element(
        "testsuite",
        name="publishkit inspect",
        tests=str(len(report.files)),
        failures=str(len(report.failing_files)),
        errors=str(len(report.unreadable)),
    )
    for inspected in report.files:
        case = ET.SubElement(suite, "testcase", classname="nwb", name=_xml(inspected.path))
        bad = [f for f in about[inspected.path] if id(f) in failing]
        rest = [f for f in about[inspected.path] if id(f) not in failing]
        if not inspected.readable:
            reason = _xml(brief(bad[0].message)) if bad else "unreadable"
            ET.SubElement(case, "error", message=reason).text = _lines(bad) or reason
        elif bad:
            ET.SubElement(
                case, "failure", message=f"{len(bad)} finding(s) at or above {report.fail_on}"
            ).text = _lines(bad)
        if rest:
            ET.SubElement(case, "system-out").text = _lines(rest)
    return suite


def _tables_suite(tables: TableCheckReport) -> ET.Element:
    failing = {id(f) for f in tables.failing}
    suite = ET.Element(
        "testsuite",
        name="publishkit tables",
        tests=str(len(tables.tables)),
        failures=str(len({f.table for f in tables.failing})),
        errors="0",
    )
    for name in tables.tables:
        case = ET.SubElement(suite, "testcase", classname="table", name=_xml(name))
        mine = [f for f in tables.findings if f.table == name]
        bad = [f for f in mine if id(f) in failing]
        rest = [f for f in mine if id(f) not in failing]
        if bad:
            ET.SubElement(
                case, "failure", message=f"{len(bad)} finding(s) at or above {tables.fail_on}"
            ).text = _xml("\n".join(f"{f.importance} {f.describe()}" for f in bad))
        if rest:
            ET.SubElement(case, "system-out").text = _xml(
                "\n".join(f"{f.importance} {f.describe()}" for f in rest)
            )
    return suite


def _lines(findings: list[Finding]) -> str:
    return _xml(
        "\n".join(
            f"{f.importance} {f.check_function_name}{_at(f)}: {f.message.strip()}" for f in findings
        )
    )


def _xml(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold (a CI's parser would refuse them)."""
    return NOT_XML.sub("\ufffd", text)


def _at(item: Finding) -> str:
    return f" at {item.location}" if item.location else ""


def as_github(report: InspectionReport) -> list[str]:
    """GitHub Actions workflow commands: an annotation on each file a finding is about,
    `::error` at or above --fail-on and `::warning` below; most important first."""
    failing = {id(f) for f in report.failing}
    return [
        workflow_command(
            "error" if id(item) in failing else "warning",
            f"{item.importance}{_at(item)}: {brief(item.message)}",
            file=path,
            title=item.check_function_name,
        )
        for item in report.findings
        for path in item.files
    ]


def tables_github(tables: TableCheckReport) -> list[str]:
    """An annotation per table finding, on the table's file and line."""
    failing = {id(f) for f in tables.failing}
    return [
        workflow_command(
            "error" if id(item) in failing else "warning",
            f"{item.importance} {item.describe()}",
            file=item.path,
            line=str(item.line),
            title=f"tables.{item.table}: {item.rule}",
        )
        for item in tables.findings
    ]


def workflow_command(command: str, message: str, **properties: str) -> str:
    """`::command key=value,...::message`, escaped as GitHub's runner un-escapes it."""
    listed = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
    return f"::{command}{' ' + listed if listed else ''}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
