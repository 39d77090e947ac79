"""A prefix, table name or data path that URL readers would read as another key is refused
before anything is written: exit 2, one line naming the input and the fix, the bucket's
object versions and the workspace's files as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, Workspace


def versions(s3_client: Any, bucket: str) -> list[tuple[str, str]]:
    listed = s3_client.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in listed.get("Versions", []))


def files(root: Path) -> dict[str, bytes | None]:
    """Every file and folder of the workspace with its content, but for the run lock: the file
    `release` takes (in a new .publishkit/) before its preflight, naming the run holding it."""
    found = {
        p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
        for p in root.rglob("*")
    }
    if ".publishkit/run.lock" in found:
        del found[".publishkit/run.lock"]
        if not any(name.startswith(".publishkit/") for name in found):
            del found[".publishkit"]
    return found


def assert_refused(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert "(fix: " in lines[0] and "Traceback" not in result.stderr


def run_refused(cli, workspace: Workspace, s3_client: Any, *expected: str) -> None:
    """`release` refuses, `release --plan` says it would (exit 1, the same reason), and nothing
    changes anywhere."""
    before = versions(s3_client, workspace.bucket), files(workspace.root)
    assert_refused(cli("release", "--version", "0.1.0", cwd=workspace.root), *expected)
    assert (versions(s3_client, workspace.bucket), files(workspace.root)) == before
    plan = cli("release", "--plan", cwd=workspace.root)
    if plan.exit_code == 2:  # publishkit.yaml itself is refused
        assert_refused(plan, *expected)
    else:
        assert plan.exit_code == 1 and "The release would be refused" in plan.stdout
        assert all(text in plan.stdout for text in expected), plan.stdout
    assert (versions(s3_client, workspace.bucket), files(workspace.root)) == before


def test_a_prefix_with_dot_dot_parts_is_refused(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    workspace.write_config(extra_s3="  prefix: a18/../../etc\n")
    run_refused(
        cli,
        workspace,
        s3_client,
        "publishkit.yaml line 5: s3.prefix: 'a18/../../etc' has a '..' part",
        "must be a clean relative key",
    )


@pytest.mark.parametrize(
    ("listed", "problem"),
    [
        ("data/./s101.nwb", "has a '.' part"),
        ("data//s101.nwb", "has an empty part ('//')"),
        ("data\\s101.nwb", "holds a backslash"),
    ],
)
def test_a_data_path_urls_read_differently_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, listed: str, problem: str
) -> None:
    table = workspace.root / "metadata" / "sessions.csv"
    table.write_text(f"file_id,file_path\n101,{listed}\n")
    run_refused(cli, workspace, s3_client, f"sessions.csv line 2: file_path {listed!r} {problem}")


@pytest.mark.parametrize("name", ["..", "a/../b", "."])
def test_a_table_name_with_dot_parts_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, name: str
) -> None:
    config = (workspace.root / "publishkit.yaml").read_text()
    workspace.write_config(body=config.replace("  sessions:", f"  {name!r}:"))
    says = f"publishkit.yaml line 6: metadata_files: table name {name!r} has a"
    run_refused(cli, workspace, s3_client, says)


def test_a_key_over_s3s_limit_is_refused(cli, workspace: Workspace, aws_env, s3_client) -> None:
    long = "data/" + "".join(f"{c * 200}/" for c in "defg") + "h" * 200 + ".nwb"
    (workspace.root / long).parent.mkdir(parents=True)
    (workspace.root / long).write_bytes(b"long")
    table = workspace.root / "metadata" / "sessions.csv"
    table.write_text(f"file_id,file_path\n101,{long}\n")
    run_refused(
        cli,
        workspace,
        s3_client,
        "sessions.csv line 2: file_path: its S3 key 'demo-project/data/ddd",
        "is 1,026 UTF-8 bytes long (S3's limit: 1,024)",
    )
