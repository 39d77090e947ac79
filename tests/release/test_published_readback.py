"""Release notes that say what changed inside: rows, cells and columns of the tables, fields and
objects of the NWB files, from the bucket alone; and tables checked before a release."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from tests.conftest import REGION, Workspace
from tests.nwbfactory import write_nwb

CONFIG = """project: demo-project
s3:
  bucket: {bucket}
  region: us-west-2
metadata_files:
  sessions: metadata/sessions.csv
  subjects: metadata/subjects.csv
tables:
  sessions:
    key: session_id
    columns:
      session_type: {{enum: [OPHYS_1, OPHYS_4, OPHYS_7]}}
    references: {{subject_id: subjects.subject_id}}
    nwb: {{subject_id: subject.subject_id}}
"""


def _session(root: Path, session: str, *, age: str = "P90D", trials: int = 10) -> str:
    """An NWB file for `session` (its subject mouse-<session>); its path in the workspace."""
    relpath = f"data/s{session}.nwb"
    write_nwb(
        root / relpath,
        session_id=session,
        subject_id=f"mouse-{session}",
        age=age,
        trials=trials,
        identifier=f"id-{session}",
    )
    return relpath


def _tables(root: Path, header: str, rows: list[str]) -> None:
    (root / "metadata" / "sessions.csv").write_text("\n".join([header, *rows]) + "\n")
    subjects = ["subject_id,sex"] + [f"mouse-{n},F" for n in (1054, 1055, 1056, 1057)]
    (root / "metadata" / "subjects.csv").write_text("\n".join(subjects) + "\n")


def _first_release(workspace: Workspace) -> None:
    root = workspace.root
    (root / "publishkit.yaml").write_text(CONFIG.format(bucket=workspace.bucket))
    for session in ("1054", "1055", "1056"):
        _session(root, session)
    header = "file_id,file_path,session_id,subject_id,session_type,age"
    _tables(
        root,
        header,
        [
            "1054,data/s1054.nwb,1054,mouse-1054,OPHYS_1,90",
            "1055,data/s1055.nwb,1055,mouse-1055,OPHYS_7,91",
            "1056,data/s1056.nwb,1056,mouse-1056,OPHYS_1,92",
        ],
    )


def _second_release(workspace: Workspace) -> None:
    """A cell changed, a row removed and one added, column age renamed; in s1055.nwb the
    subject's age and the trials' row count changed."""
    root = workspace.root
    (root / "data" / "s1054.nwb").unlink()
    _session(root, "1055", age="P91D", trials=8)
    _session(root, "1057")
    header = "file_id,file_path,session_id,subject_id,session_type,age_in_days"
    _tables(
        root,
        header,
        [
            "1055,data/s1055.nwb,1055,mouse-1055,OPHYS_4,91",
            "1056,data/s1056.nwb,1056,mouse-1056,OPHYS_1,92",
            "1057,data/s1057.nwb,1057,mouse-1057,OPHYS_1,93",
        ],
    )


SECTION = """Changes since v0.1.0: 1 created, 2 changed, 1 deleted.

### Metadata tables (1 changed)

- `project_metadata/sessions.csv` changed

#### `sessions`: 1 row added, 1 row removed, 1 cell changed, 1 column renamed

3 → 3 rows, matched by `session_id`.

- column `age` renamed `age_in_days`
- row added: session 1057
- row removed: session 1054
- session 1055 `session_type`: OPHYS_7 → OPHYS_4

### Data files (1 created, 1 changed, 1 deleted)

- `data/s1054.nwb` deleted
- `data/s1055.nwb` changed
  - subject `age`: P90D → P91D
  - `intervals/trials`: 10 → 8 rows
- `data/s1057.nwb` created
"""


def _section(notes: str, version: str) -> str:
    """The body of `version`'s section of a release-notes document (its heading left out)."""
    found = re.search(rf"^## v{re.escape(version)}[^\n]*\n\n(.*?)(?=^## v|\Z)", notes, re.S | re.M)
    assert found, notes
    return found.group(1).rstrip("\n") + "\n"


def test_notes_say_what_changed_inside_tables_and_nwb_files_from_the_bucket_alone(
    cli, workspace: Workspace, aws_env, s3_client, tmp_path: Path
) -> None:
    _first_release(workspace)
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    _second_release(workspace)

    planned = cli("release", "--plan", cwd=workspace.root)
    assert "the changes suggest --bump major" in planned.stdout  # a row removed, a file deleted
    result = cli("release", "--bump", "major", cwd=workspace.root)

    assert result.exit_code == 0, result.stderr + result.stdout
    notes = (workspace.root / "release_notes.md").read_text()
    assert _section(notes, "1.0.0") == SECTION
    # the summaries are published beside the manifests, not among them (AllenSDK lists those)
    listed = s3_client.list_objects_v2(Bucket=workspace.bucket)["Contents"]
    keys = sorted(o["Key"] for o in listed)
    assert "demo-project/summaries/demo-project_summaries_v1.0.0.json" in keys
    assert [k for k in keys if "/manifests/" in k and "summaries" in k] == []
    manifest = json.loads(workspace.manifest_path("1.0.0").read_text())
    assert "summaries" not in json.dumps(manifest)  # AllenSDK's manifest is unchanged

    # a fresh clone: the workspace's files, no state, no local manifests or notes
    clone = tmp_path / "clone"
    shutil.copytree(
        workspace.root,
        clone,
        ignore=shutil.ignore_patterns(".publishkit", "manifests", "release_notes.md"),
    )
    for version in ("0.1.0", "1.0.0"):
        key = f"demo-project/manifests/demo-project_project_manifest_v{version}.json"
        body = s3_client.get_object(Bucket=workspace.bucket, Key=key)["Body"].read()
        (clone / f"v{version}.json").write_bytes(body)
    from_clone = cli("notes", "v0.1.0.json", "v1.0.0.json", cwd=clone)
    assert from_clone.exit_code == 0, from_clone.stderr
    assert _section(from_clone.stdout, "1.0.0") == SECTION
    # the bucket's notes gone, the clone writes them again: the same section
    s3_client.delete_object(Bucket=workspace.bucket, Key="demo-project/release_notes.md")
    again = cli("release", "--only", "notes", cwd=clone)
    assert again.exit_code == 0, again.stderr
    assert _section((clone / "release_notes.md").read_text(), "1.0.0") == SECTION

    report = json.loads(cli("notes", "v0.1.0.json", "v1.0.0.json", "-f", "json", cwd=clone).stdout)
    assert report["suggested_bump"] == "major"
    sessions = next(t for t in report["tables"] if t["table"] == "sessions")
    assert sessions["columns"] == {
        "added": [],
        "removed": [],
        "renamed": [{"from": "age", "to": "age_in_days"}],
    }
    assert sessions["cells"] == [
        {
            "key": {"session_id": "1055"},
            "column": "session_type",
            "old": "OPHYS_7",
            "new": "OPHYS_4",
        }
    ]
    assert [r["session_id"] for r in sessions["rows_added"]] == ["1057"]
    assert sessions["rows_removed"][0]["age"] == "90"  # the whole row, by the old header
    (nwb,) = report["nwb_files"]
    assert nwb["path"] == "data/s1055.nwb" and nwb["compared"]
    assert [(c["section"], c["name"], c["field"], c["old"], c["new"]) for c in nwb["changes"]] == [
        ("subject", None, "age", "P90D", "P91D"),
        ("objects", "intervals/trials", "rows", 10, 8),
    ]
    page = cli("notes", "v0.1.0.json", "v1.0.0.json", "-f", "html", cwd=clone).stdout
    assert page.startswith("<!DOCTYPE html>")
    assert '<section class="release" id="v1.0.0">' in page
    published = s3_client.get_object(
        Bucket=workspace.bucket, Key="demo-project/releases/v1.0.0.html"
    )["Body"].read()
    assert page == published.decode()  # the page the release put in the bucket
    assert "<li>session 1055 <code>session_type</code>: OPHYS_7 → OPHYS_4</li>" in page
    assert "<li>subject <code>age</code>: P90D → P91D</li>" in page
    # AllenSDK's text stays file by file
    text = cli("notes", "v0.1.0.json", "v1.0.0.json", "-f", "allensdk", cwd=clone).stdout
    assert "project_metadata/sessions.csv changed\n" in text and "session 1055" not in text


def _bucket_keys(s3_client: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_a_failing_table_gates_the_release_naming_row_line_column(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    _first_release(workspace)
    header = "file_id,file_path,session_id,subject_id,session_type,age"
    _tables(
        workspace.root,
        header,
        [
            "1054,data/s1054.nwb,1054,mouse-1054,OPHYS_1,90",
            "1055,data/s1055.nwb,1055,mouse-1056,OPHYS_9,91",  # not its NWB file's subject
            "1056,data/s1056.nwb,1056,mouse-9,OPHYS_1,92",  # no such subject (nor its file's)
        ],
    )

    result = cli("release", "--version", "0.1.0", cwd=workspace.root)

    assert result.exit_code == 1
    assert "inspection failed, so nothing was uploaded" in result.stderr
    out = result.stdout
    assert (
        "CRITICAL metadata/sessions.csv row 2 (line 3), column session_type 'OPHYS_9': "
        "columns: 'OPHYS_9' is not one of ['OPHYS_1', 'OPHYS_4', 'OPHYS_7']"
    ) in out
    assert (
        "metadata/sessions.csv row 2 (line 3), column subject_id 'mouse-1056': nwb: "
        "data/s1055.nwb has subject.subject_id 'mouse-1055'"
    ) in out
    assert (
        "metadata/sessions.csv row 3 (line 4), column subject_id 'mouse-9': references: "
        "no subjects.subject_id has this value"
    ) in out
    assert "tables: FAILED: 4 table finding(s) at or above CRITICAL in sessions" in out
    assert _bucket_keys(s3_client, workspace.bucket) == []  # nothing uploaded

    forced = cli(
        "release", "--version", "0.1.0", "--publish-despite-inspection", "legacy rows",
        cwd=workspace.root,
    )  # fmt: skip
    assert forced.exit_code == 0, forced.stderr
    notes = (workspace.root / "release_notes.md").read_text()
    assert (
        "4 table finding(s) at or above CRITICAL in sessions); reason given: legacy rows" in notes
    )


def test_tables_config_errors_name_the_key_and_line(cli, workspace: Workspace) -> None:
    (workspace.root / "publishkit.yaml").write_text(
        f"project: demo-project\ns3:\n  bucket: {workspace.bucket}\n  region: {REGION}\n"
        "metadata_files:\n  sessions: metadata/sessions.csv\n"
        "tables:\n  sessions:\n    nwb: {subject_id: subject.favourite_food}\n"
    )
    result = cli("release", "--plan", cwd=workspace.root)
    assert result.exit_code == 2
    assert "publishkit.yaml line 9: tables.sessions.nwb.subject_id: 'subject.favourite_food'" in (
        result.stderr
    )
    assert "fix: use one of subject.subject_id, subject.age" in result.stderr
