"""The release inventory: only files inside the workspace, only tables that read unambiguously.

Every refusal is checked through `publishkit release` against the moto server: exit 2, one
`error:` line naming the file (and line) and the fix, and not one object version in the bucket.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from publishkit.workspace.config import load_settings
from publishkit.workspace.inventory import collect
from tests.conftest import Workspace

CONFIG_TABLE = "metadata_files:\n  sessions: metadata/sessions.csv\n"


def refused(cli: Any, workspace: Workspace, s3_client: Any) -> str:
    """Run a release that must be refused; the one error line it printed."""
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    listed = s3_client.list_object_versions(Bucket=workspace.bucket)
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []
    assert not workspace.manifest_path("1.0.0").exists()
    return result.stderr.strip()


def write_table(workspace: Workspace, content: bytes | str, name: str = "sessions.csv") -> Path:
    table = workspace.root / "metadata" / name
    if isinstance(content, str):
        content = content.encode()
    table.write_bytes(content)
    return table


def use_table(workspace: Workspace, path: str) -> None:
    """Point publishkit.yaml's sessions table at `path`."""
    config = workspace.root / "publishkit.yaml"
    text = config.read_text().replace(CONFIG_TABLE, f"metadata_files:\n  sessions: {path}\n")
    config.write_text(text)


# --- symlinks and paths outside the workspace -------------------------------------------------


def test_data_file_symlinked_outside_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the public bucket\n")
    data = workspace.root / "data" / "s101.nwb"
    data.unlink()
    data.symlink_to(secret)

    line = refused(cli, workspace, s3_client)

    assert f"line 2: data file data/s101.nwb: {data} is a symlink to {secret}" in line
    assert f"outside the workspace {workspace.root}" in line
    assert "(fix: copy the file into the workspace instead of linking to it" in line


def test_data_file_symlinked_to_a_system_file_is_refused(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    target = Path("/etc/hostname") if Path("/etc/hostname").is_file() else Path("/etc/passwd")
    data = workspace.root / "data" / "s102.nwb"
    data.unlink()
    data.symlink_to(target)

    line = refused(cli, workspace, s3_client)

    assert f"line 3: data file data/s102.nwb: {data} is a symlink to {target}" in line


def test_data_folder_symlinked_outside_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (workspace.root / "data").rename(elsewhere)
    (workspace.root / "data").symlink_to(elsewhere, target_is_directory=True)

    line = refused(cli, workspace, s3_client)

    assert (
        f"data file data/s101.nwb: {workspace.root / 'data'} is a symlink to {elsewhere}," in line
    )


@pytest.mark.parametrize("listed", ["../outside.csv", "ABSOLUTE"])
def test_metadata_table_outside_the_workspace_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, tmp_path: Path, listed: str
) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("file_id,file_path\n")
    use_table(workspace, str(outside) if listed == "ABSOLUTE" else listed)

    line = refused(cli, workspace, s3_client)

    shown = outside if listed == "ABSOLUTE" else workspace.root / listed
    assert f"metadata table 'sessions': {shown} is outside the workspace {workspace.root}" in line
    assert "(fix: move the table into the workspace and fix its path in metadata_files" in line


def test_metadata_table_symlinked_outside_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("subject_id\nmouse-1\n")
    link = workspace.root / "metadata" / "sessions.csv"
    link.unlink()
    link.symlink_to(outside)

    line = refused(cli, workspace, s3_client)

    assert f"metadata table 'sessions': {link} is a symlink to {outside}, outside the" in line


def test_symlink_loop_is_refused(cli, workspace: Workspace, aws_env, s3_client) -> None:
    data = workspace.root / "data" / "s101.nwb"
    data.unlink()
    data.symlink_to(data)

    line = refused(cli, workspace, s3_client)

    assert f"data file data/s101.nwb: {data} cannot be resolved" in line
    assert "(fix: fix or remove the symlink loop)" in line


def test_symlinks_inside_the_workspace_are_published_under_the_listed_name(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    blobs = workspace.root / "blobs"
    blobs.mkdir()
    data = workspace.root / "data" / "s101.nwb"
    blob = blobs / "abc"
    data.rename(blob)
    data.symlink_to(Path("..") / "blobs" / "abc")
    table = workspace.root / "metadata" / "sessions.csv"
    table.rename(blobs / "sessions.csv")
    table.symlink_to(blobs / "sessions.csv")

    files = {f.relpath: f.path for f in collect(load_settings(workspace.root))}
    assert files["data/s101.nwb"] == blob  # the real path: a later swap of the link is moot
    assert files["project_metadata/sessions.csv"] == blobs / "sessions.csv"

    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    body = s3_client.get_object(Bucket=workspace.bucket, Key="demo-project/data/s101.nwb")["Body"]
    assert body.read() == blob.read_bytes()
    assert "demo-project/blobs/abc" not in {
        v["Key"] for v in s3_client.list_object_versions(Bucket=workspace.bucket)["Versions"]
    }


# --- a table naming one data column but not the other ----------------------------------------


@pytest.mark.parametrize(
    ("content", "message", "fix"),
    [
        (
            "fileid,file_path,subject_id\n101,data/s101.nwb,mouse-101\n",
            "has column 'file_path' but no 'file_id'",
            "rename column 'fileid' to 'file_id'",
        ),
        (
            "file_id,filepath,subject_id\n101,data/s101.nwb,mouse-101\n",
            "has column 'file_id' but no 'file_path'",
            "rename column 'filepath' to 'file_path'",
        ),
        (
            "file_id,subject_id\n101,mouse-101\n",
            "has column 'file_id' but no 'file_path'",
            "add a 'file_path' column, or remove 'file_id' if the table lists no data files",
        ),
    ],
)
def test_a_table_with_one_data_column_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, content: str, message: str, fix: str
) -> None:
    table = write_table(workspace, content)

    line = refused(cli, workspace, s3_client)

    assert f"{table} line 1: table 'sessions' {message}" in line
    assert f"(fix: {fix})" in line


def test_a_table_with_neither_data_column_is_metadata_only(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    (workspace.root / "metadata" / "subjects.csv").write_text("subject_id,age\nmouse-101,P60\n")
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "  subjects: metadata/subjects.csv\n")

    result = cli("release", "--version", "1.0.0", cwd=workspace.root)

    assert result.exit_code == 0, result.stderr
    document = json.loads(workspace.manifest_path("1.0.0").read_text())
    assert set(document["metadata_files"]) == {"sessions", "subjects"}
    assert set(document["data_files"]) == {"101", "102"}


def test_custom_column_names_are_the_ones_checked(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "data_files:\n  id_column: nwb_id\n")
    table = write_table(workspace, "nwb_ID,file_path\n101,data/s101.nwb\n")

    line = refused(cli, workspace, s3_client)

    assert f"{table} line 1: table 'sessions' has column 'file_path' but no 'nwb_id'" in line
    assert "(fix: rename column 'nwb_ID' to 'nwb_id')" in line


# --- tables that cannot be read unambiguously ---------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message", "fix"),
    [
        (b"", ": the table is empty (no header row)", "write a header row of column names"),
        (b"\n\n", ": the table is empty (no header row)", "write a header row of column names"),
        (
            b"file_id,file_path,subject_id\n101,data/s101.nwb,mouse,101\n",
            " line 2: 4 field(s), but the header (line 1) has 3",
            "give every row one field per column",
        ),
        (
            b"file_id,file_path,subject_id\n101,data/s101.nwb,m\n\n102,data/s102.nwb\n",
            " line 4: 2 field(s), but the header (line 1) has 3",
            "give every row one field per column",
        ),
        (
            b"file_id,file_path,subject_id\n101,data/s101.nwb,caf\xe9\n",
            " line 2: byte 0xe9 at offset 50 is not UTF-8",
            "save sessions.csv as UTF-8",
        ),
        (
            b"\xef\xbb\xbffile_id,file_path\n\n101,data/s101.nwb\xff\n",
            " line 3: byte 0xff at offset 39 is not UTF-8",
            "save sessions.csv as UTF-8",
        ),
        (
            "file_id,file_path\n101,data/s101.nwb\n".encode("utf-16-le"),
            " line 1: byte 0x00 at offset 1 is a NUL byte, never in a text table",
            "save sessions.csv as UTF-8",
        ),
        (
            b'file_id,file_path,subject_id\n101,data/s101.nwb,"mouse\n102,x,y\n',
            " line 2: not valid CSV (unexpected end of data)",
            "wrap a field holding a comma, a quote or a line break in double quotes",
        ),
        (
            b'file_id,file_path\n"101"x,data/s101.nwb\n',
            " line 2: not valid CSV (',' expected after '\"')",
            "wrap a field holding a comma",
        ),
        (
            b'file_id,file_path\n"10\n1",data/s101.nwb\n',
            " line 2: file_id '10\\n1' holds control character U+000A at position 3",
            "remove it; ids and paths are one line of visible text",
        ),
        (
            b"file_id,file_path\n101\t,data/s101.nwb\n",
            " line 2: file_id '101\\t' holds control character U+0009 at position 4",
            "remove it",
        ),
        (
            b"file_id,file_path\n1\xe2\x80\x8b01,data/s101.nwb\n",
            " line 2: file_id '1\\u200b01' holds control character U+200B at position 2",
            "remove it",
        ),
        (
            b'file_id,file_path\n101,"data/s101.nwb\n"\n',
            " line 2: file_path 'data/s101.nwb\\n' holds control character U+000A",
            "remove it",
        ),
        (
            b"file_id,file_path,file_id\n101,data/s101.nwb,102\n",
            " line 1: columns 1 and 3 are both named 'file_id'",
            "give every column its own name",
        ),
        (
            b"file_id,file_path,subject_id,subject_id\n101,data/s101.nwb,m1,m2\n",
            " line 1: columns 3 and 4 are both named 'subject_id'",
            "give every column its own name",
        ),
        (
            b"file_id,file_path,,subject_id\n101,data/s101.nwb,,m1\n",
            " line 1: column 3 (after 'file_path') has no name",
            "give every column its own name",
        ),
    ],
    ids=[
        "0-bytes",
        "blank-lines",
        "too-many-fields",
        "too-few-fields",
        "latin-1",
        "bom-then-bad-byte",
        "utf-16",
        "unterminated-quote",
        "text-after-quote",
        "newline-in-id",
        "tab-in-id",
        "zero-width-space-in-id",
        "newline-in-path",
        "duplicate-column",
        "duplicate-metadata-column",
        "column-without-a-name",
    ],
)
def test_a_malformed_table_is_refused_naming_file_and_line(
    cli, workspace: Workspace, aws_env, s3_client, content: bytes, message: str, fix: str
) -> None:
    table = write_table(workspace, content)

    line = refused(cli, workspace, s3_client)

    assert f"error: {table}{message}" in line
    assert f"(fix: {fix}" in line


def test_a_table_is_checked_even_when_it_lists_no_data_files(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    table = workspace.root / "metadata" / "subjects.csv"
    table.write_text("subject_id,age\nmouse-101,P60,extra\n")
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "  subjects: metadata/subjects.csv\n")

    line = refused(cli, workspace, s3_client)

    assert f"error: {table} line 2: 3 field(s), but the header (line 1) has 2" in line


def test_surrounding_spaces_are_stripped_from_ids_and_paths_alike(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    write_table(workspace, "file_id,file_path\n 101 ,  data/s101.nwb \n102,data/s102.nwb\n")

    result = cli("release", "--version", "1.0.0", cwd=workspace.root)

    assert result.exit_code == 0, result.stderr
    document = json.loads(workspace.manifest_path("1.0.0").read_text())
    assert set(document["data_files"]) == {"101", "102"}
    assert document["data_files"]["101"]["url"].endswith("/demo-project/data/s101.nwb")


@pytest.mark.parametrize(
    "path", ["manifests/demo-project_project_manifest_v2.0.0.json", "release_notes.md"]
)
def test_a_data_file_on_a_key_publishkit_writes_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, path: str
) -> None:
    target = workspace.root / path
    target.parent.mkdir(exist_ok=True)
    target.write_text("{}")
    table = write_table(workspace, f"file_id,file_path\n9,{path}\n")

    line = refused(cli, workspace, s3_client)

    assert f"{table} line 2: file_path '{path}' would land where publishkit writes" in line
    assert "(fix: move the file to another folder)" in line
    assert os.path.exists(target)  # untouched


@pytest.mark.parametrize(
    ("listed", "message", "fix"),
    [
        (
            '"metadata/sessions\\n.csv"',
            "path '{root}/metadata/sessions\\n.csv' holds control character U+000A",
            "fix the path in metadata_files in publishkit.yaml",
        ),
        (
            '"metadata/sessions\\0.csv"',
            "path '{root}/metadata/sessions\\x00.csv' holds control character U+0000",
            "fix the path in metadata_files in publishkit.yaml",
        ),
        (
            "metadata/" + "s" * 300 + ".csv",
            "{root}/metadata/" + "s" * 300 + ".csv cannot be read (File name too long)",
            "check the path and its permissions",
        ),
        (
            "metadata",
            "{root}/metadata is not a regular file",
            "fix metadata_files in publishkit.yaml or create the file",
        ),
    ],
    ids=["line-break", "nul", "too-long", "folder"],
)
def test_a_metadata_table_path_that_cannot_name_a_file_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, listed: str, message: str, fix: str
) -> None:
    use_table(workspace, listed)

    line = refused(cli, workspace, s3_client)

    assert f"error: metadata table 'sessions': {message.format(root=workspace.root)}" in line
    assert f"(fix: {fix})" in line


def test_one_column_for_both_id_and_path_is_refused(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "data_files:\n  id_column: file_path\n")

    line = refused(cli, workspace, s3_client)

    assert (
        f"error: {config}: data_files.id_column and data_files.path_column are both 'file_path'"
        in line
    )
    assert "(fix: name two different columns" in line


def test_inspection_finds_listed_nwb_files_whose_real_path_has_no_suffix(
    workspace: Workspace,
) -> None:
    """As a git-annex dataset has them: data/s101.nwb -> ../.git/annex/objects/SHA256--abc."""
    from publishkit.workspace.nwb_files import workspace_nwb_files

    blob = workspace.root / ".git" / "annex" / "objects" / "SHA256--abc"
    blob.parent.mkdir(parents=True)
    data = workspace.root / "data" / "s101.nwb"
    data.rename(blob)
    data.symlink_to(Path("..") / blob.relative_to(workspace.root))

    found = workspace_nwb_files(load_settings(workspace.root))

    assert found == [blob, workspace.root / "data" / "s102.nwb"]


def test_real_paths_resolve_as_path_resolve_does_each_folder_once(tmp_path: Path) -> None:
    """The inventory and the digest cache resolve each folder once, not every part of every
    file's path: the real path is the same as `Path.resolve`'s for a plain file, a file in a
    linked folder, a file that is a link (into another folder, or dangling), an absent file,
    `..`, and a link swapped in after its folder was resolved."""
    from publishkit.workspace.confined import RealPaths

    (tmp_path / "data" / "deep").mkdir(parents=True)
    (tmp_path / "data" / "a.bin").write_bytes(b"a")
    (tmp_path / "data" / "deep" / "b.bin").write_bytes(b"b")
    (tmp_path / "linked").symlink_to(tmp_path / "data")
    (tmp_path / "data" / "to-b.bin").symlink_to(tmp_path / "data" / "deep" / "b.bin")
    (tmp_path / "data" / "dangling.bin").symlink_to(tmp_path / "nowhere")
    real_paths = RealPaths()
    paths = [
        tmp_path / "data" / "a.bin",
        tmp_path / "linked" / "a.bin",
        tmp_path / "linked" / "deep" / "b.bin",
        tmp_path / "data" / "to-b.bin",
        tmp_path / "linked" / "to-b.bin",
        tmp_path / "data" / "dangling.bin",
        tmp_path / "data" / "absent.bin",
        tmp_path / "linked" / "deep" / "..",
        Path("relative.bin"),
    ]
    for path in paths:
        assert real_paths(path) == path.resolve(), path
    (tmp_path / "data" / "a.bin").unlink()
    (tmp_path / "data" / "a.bin").symlink_to(tmp_path / "data" / "deep" / "b.bin")
    assert real_paths(tmp_path / "linked" / "a.bin") == tmp_path / "data" / "deep" / "b.bin"
