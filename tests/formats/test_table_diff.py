"""Row, cell and column changes of a table between two releases, and how the notes word them."""

from __future__ import annotations

import pytest

from publishkit.errors import ManifestError
from publishkit.formats.changes import Change
from publishkit.formats.comparison import Comparison
from publishkit.formats.content_changes import LIMIT, table_lines
from publishkit.formats.notes import render_markdown
from publishkit.formats.table_diff import TableDiff, diff_tables, parse_table


def table(text: str) -> tuple[list[str], list[list[str]]]:
    return parse_table(text.encode(), "t.csv")


def test_rows_cells_and_renamed_columns_by_key() -> None:
    old = table("session_id,type,age\n1,A,90\n2,B,91\n3,C,92\n")
    new = table("session_id,type,age_days,notes\n2,B,91,x\n3,D,92,y\n4,A,93,z\n")

    diff = diff_tables("sessions", "p/s.csv", old, new, ("session_id",))

    assert diff.columns_renamed == (("age", "age_days"),)
    assert diff.columns_added == ("notes",)
    assert diff.columns_removed == ()
    assert [r["session_id"] for r in diff.rows_added] == ["4"]
    assert diff.rows_removed == ({"session_id": "1", "type": "A", "age": "90"},)
    assert [(c.key, c.column, c.old, c.new) for c in diff.cells] == [(("3",), "type", "C", "D")]
    assert diff.breaking  # a row removed
    assert table_lines(diff) == (
        "column `age` renamed `age_days`",
        "column `notes` added",
        "row added: session 4",
        "row removed: session 1",
        "session 3 `type`: C → D",
    )


def test_without_a_unique_key_rows_are_compared_whole_on_shared_columns() -> None:
    old = table("a,b\n1,x\n1,x\n2,y\n")
    new = table("a,b,c\n1,x,new\n2,z,new\n")

    diff = diff_tables("t", "t.csv", old, new, ("a",))  # a repeats: not a key

    assert diff.key is None
    assert diff.columns_added == ("c",)
    assert [r["b"] for r in diff.rows_removed] == ["x", "y"]
    assert [r["b"] for r in diff.rows_added] == ["z"]
    assert diff.cells == ()
    assert not diff.breaking  # without a key an edited row reads as removed + added


def test_an_unkeyed_table_with_a_corrected_value_is_a_patch_not_a_major() -> None:
    old = table("subject_id,age\nmouse-a,P90D\nmouse-b,P92D\n")
    new = table("subject_id,age\nmouse-a,P90D\nmouse-b,P93D\n")
    diff = diff_tables("subjects", "subjects.csv", old, new, None)
    assert diff.key is None and len(diff.rows_removed) == len(diff.rows_added) == 1
    assert not diff.breaking


def test_a_key_column_missing_from_one_version_falls_back_and_quoting_is_no_change() -> None:
    same = diff_tables("t", "t.csv", table('a,b\n1,"x"\n'), table("a,b\n1,x\n"), ("a",))
    assert same == TableDiff("t", "t.csv", ("a",), 1, 1) and not same.breaking
    gone = diff_tables("t", "t.csv", table("a,b\n1,x\n"), table("b\nx\n"), ("a",))
    assert gone.key is None and gone.columns_removed == ("a",) and gone.breaking


def test_long_lists_are_capped_with_a_count_and_the_json_has_everything() -> None:
    rows = "".join(f"{n},v{n}\n" for n in range(1500))
    diff = diff_tables("t", "t.csv", table("id,v\n"), table("id,v\n" + rows), ("id",))
    lines = table_lines(diff)
    assert len(lines) == LIMIT + 1
    assert lines[-1] == "and 1,480 more; see the JSON"
    assert len(diff.as_json()["rows_added"]) == 1500


def test_markdown_groups_table_changes_under_the_tables_and_a_removed_row_is_major() -> None:
    diff = diff_tables(
        "sessions", "project_metadata/sessions.csv", table("id,v\n1,a\n2,b\n"),
        table("id,v\n2,b\n"), ("id",),
    )  # fmt: skip
    comparison = Comparison(
        "a.json", "b.json", "1.0.0", "1.0.1",
        (Change("metadata", "changed", "project_metadata/sessions.csv"),),
        tables=(diff,), nwb_files=(),
    )  # fmt: skip
    assert comparison.suggested_bump == "major"  # file by file, it would be a patch
    text = render_markdown(comparison)
    assert text.endswith(
        "#### `sessions`: 1 row removed\n\n2 → 1 rows, matched by `id`.\n\n- row removed: id 1\n"
    )


def test_a_table_that_is_not_csv_is_named_with_its_line() -> None:
    with pytest.raises(ManifestError, match=r"t\.csv: row 2 has 1 field\(s\), the header 2"):
        parse_table(b"a,b\n1,2\n3\n", "t.csv")
    with pytest.raises(ManifestError, match=r"t\.csv: not UTF-8 text"):
        parse_table(b"a\n\xff\n", "t.csv")


def test_without_a_key_duplicate_rows_are_counted_one_by_one() -> None:
    """Rows without a key are a multiset: removing one of two identical rows removes one."""
    one_of_two = diff_tables(
        "t", "t.csv", table("a,b\n1,x\n1,x\n2,y\n"), table("a,b\n1,x\n2,y\n"), None
    )
    assert one_of_two.rows_removed == ({"a": "1", "b": "x"},)
    assert one_of_two.rows_added == ()
    two_of_three = diff_tables("t", "t.csv", table("a\n1\n1\n1\n"), table("a\n1\n"), None)
    assert two_of_three.rows_removed == ({"a": "1"}, {"a": "1"})
    doubled = diff_tables("t", "t.csv", table("a\n1\n2\n"), table("a\n1\n2\n1\n"), None)
    assert doubled.rows_added == ({"a": "1"},) and doubled.rows_removed == ()
    assert (one_of_two.rows_before, one_of_two.rows_after) == (3, 2)
    comparison = Comparison(
        "a.json", "b.json", "1.0.0", "1.0.1",
        (Change("metadata", "changed", "t.csv"),), tables=(two_of_three,), nwb_files=(),
    )  # fmt: skip
    assert "#### `t`: 2 rows removed\n" in render_markdown(comparison)


@pytest.mark.parametrize("key", [("session_id",), None])
def test_a_renamed_column_alone_is_a_major_change(key: tuple[str, ...] | None) -> None:
    """README: a removed or renamed column is a major change, with a key or without."""
    old = table("session_id,age\n1,90\n2,91\n")
    new = table("session_id,age_days\n1,90\n2,91\n")
    diff = diff_tables("sessions", "p/s.csv", old, new, key)
    assert diff.columns_renamed == (("age", "age_days"),)
    assert (diff.rows_removed, diff.rows_added, diff.cells) == ((), (), ())
    assert diff.breaking
    comparison = Comparison(
        "a.json", "b.json", "1.0.0", "1.0.1",
        (Change("metadata", "changed", "p/s.csv"),), tables=(diff,), nwb_files=(),
    )  # fmt: skip
    assert comparison.suggested_bump == "major"  # file by file, it would be a patch
    assert comparison.as_json()["suggested_bump"] == "major"


def test_a_header_naming_a_column_twice_or_not_at_all_is_refused_naming_both() -> None:
    """Diffed by name, the second of two `subject_id` columns would hide its edits: the notes
    would say nothing changed."""
    with pytest.raises(ManifestError, match="columns 2 and 3 are both named 'subject_id'"):
        parse_table(b"id,subject_id,subject_id\n1,m1,m2\n", "t.csv")
    with pytest.raises(ManifestError, match=r"column 2 \(after 'id'\) has no name"):
        parse_table(b"id,,b\n1,2,3\n", "t.csv")
