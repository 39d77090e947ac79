"""The checks publishkit.yaml's `tables:` declares: each failure a finding with its table, row,
line, column, value and rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from publishkit.errors import ConfigError
from publishkit.workspace.config import load_settings
from publishkit.workspace.table_checks import cell_value, check_tables


def workspace(tmp_path: Path, tables: str, sessions: str) -> Path:
    (tmp_path / "publishkit.yaml").write_text(
        "project: demo\nmetadata_files:\n  sessions: sessions.csv\n  subjects: subjects.csv\n"
        + tables
    )
    (tmp_path / "sessions.csv").write_text(sessions)
    (tmp_path / "subjects.csv").write_text("subject_id\nm1\nm2\n")
    return tmp_path


def findings(root: Path) -> list[tuple[object, ...]]:
    report = check_tables(settings=load_settings(root))
    return [(f.row, f.line, f.column, f.value, f.rule) for f in report.findings]


def test_key_unique_and_column_rules(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        "tables:\n  sessions:\n    key: session_id\n"
        "    columns: {age: {type: [integer, 'null'], minimum: 0}, ok: {type: boolean}}\n"
        "    unique: [[subject_id, date]]\n",
        "session_id,subject_id,date,age,ok\n"
        "1,m1,d1,90,true\n"
        "\n"  # blank lines are skipped, lines still counted
        "1,m1,d1,-1,yes\n"
        ",m2,d1,,FALSE\n",
    )
    assert findings(root) == [
        (2, 4, "session_id", "1", "key"),
        (3, 5, "session_id", "", "key"),
        (2, 4, "age", "-1", "columns"),
        (2, 4, "ok", "yes", "columns"),
        (2, 4, "subject_id+date", "m1, d1", "unique"),
    ]
    report = check_tables(settings=load_settings(root))
    assert report.findings[0].describe() == (
        "sessions.csv row 2 (line 4), column session_id '1': key: repeats row 1 (line 2)"
    )


def test_a_missing_column_is_a_header_finding_and_importance_decides_the_gate(
    tmp_path: Path,
) -> None:
    root = workspace(
        tmp_path,
        "inspection:\n  fail_on: CRITICAL\n"
        "tables:\n  sessions:\n    importance: BEST_PRACTICE_VIOLATION\n"
        "    references: {subject_id: subjects.subject_id}\n",
        "session_id\n1\n",
    )
    report = check_tables(settings=load_settings(root))
    assert [(f.row, f.line, f.column, f.rule) for f in report.findings] == [
        (None, 1, "subject_id", "header")
    ]
    assert report.passed  # below fail_on: reported, not gating


def test_config_refuses_unknown_tables_and_bad_column_schemas(tmp_path: Path) -> None:
    root = workspace(tmp_path, "tables:\n  visits:\n    key: id\n", "session_id\n1\n")
    with pytest.raises(ConfigError, match=r"line 7: tables\.visits: no metadata table 'visits'"):
        load_settings(root)
    root = workspace(tmp_path, "tables:\n  sessions:\n    columns: {a: {type: 7}}\n", "a\n1\n")
    with pytest.raises(ConfigError, match=r"tables\.sessions\.columns\.a: not a JSON Schema"):
        load_settings(root)


@pytest.mark.parametrize(
    ("text", "schema", "value"),
    [
        ("", {"type": "integer"}, None),
        (" 42 ", {"type": "integer"}, 42),
        ("4.5", {"type": "integer"}, "4.5"),
        ("4.5", {"type": ["number"]}, 4.5),
        ("nan", {"type": "number"}, "nan"),
        ("True", {"type": "boolean"}, True),
        ("007", {"enum": ["007"]}, "007"),  # no type named: the text
    ],
)
def test_a_cell_becomes_the_type_its_schema_names(text: str, schema: dict, value: object) -> None:
    assert cell_value(text, schema) == value
    assert type(cell_value(text, schema)) is type(value)


def test_inspect_in_a_workspace_runs_the_table_checks_in_every_format(cli, tmp_path: Path) -> None:
    """`publishkit inspect` is the inspect stage: the tables fail it as they fail the release,
    in text, JSON, JUnit (a suite of their own) and GitHub annotations on the table's line; a
    file listed under two ids is inspected once."""
    import json
    import xml.etree.ElementTree as ET

    from tests.nwbfactory import write_nwb

    root = workspace(
        tmp_path,
        "inspection: {config: none}\n"
        "tables:\n  sessions:\n    references: {subject_id: subjects.subject_id}\n",
        "file_id,file_path,subject_id\n1,a.nwb,m1\n2,a.nwb,m9\n",
    )
    write_nwb(root / "a.nwb", subject_id="m1")
    text = cli("inspect", cwd=root)
    assert text.exit_code == 1, text.stdout
    assert "sessions.csv row 2 (line 3), column subject_id 'm9': references" in text.stdout
    assert "tables: FAILED: 1 table finding(s) at or above CRITICAL in sessions" in text.stdout
    report = json.loads(cli("inspect", "-f", "json", cwd=root).stdout)
    assert report["header"]["files"] == 1
    assert [f["value"] for f in report["tables"]["findings"]] == ["m9"]
    junit = cli("inspect", "-f", "junit", cwd=root).stdout
    suites = ET.fromstring(junit.split("?>", 1)[1])
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        ("publishkit inspect", "1", "0"),
        ("publishkit tables", "1", "1"),
    ]
    github = cli("inspect", "-f", "github", cwd=root).stdout.splitlines()
    assert github[-2].startswith(
        "::error file=sessions.csv,line=3,title=tables.sessions%3A references::CRITICAL"
    )
    assert github[-1].startswith("::error title=publishkit inspect::PASSED")
