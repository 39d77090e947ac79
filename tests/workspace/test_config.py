"""publishkit.yaml: validated, and every error names the key, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from publishkit.errors import ConfigError
from publishkit.workspace.config import load_settings


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "publishkit.yaml").write_text(text)
    return tmp_path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "project: demo\ns3:\n  bucket: demo-release\n"))
    assert settings.s3.prefix == "demo"
    assert settings.s3.region == "us-east-1"
    assert settings.s3.public_url == "https://{bucket}.s3.{region}.amazonaws.com/{key}"
    assert (settings.id_column, settings.path_column) == ("file_id", "file_path")
    assert settings.s3.multipart_threshold == 64 * 1024 * 1024
    assert (settings.s3.max_concurrency, settings.s3.part_size) == (10, None)


def test_transfer_settings(tmp_path: Path) -> None:
    text = "project: demo\ns3:\n  bucket: demo-release\n  max_concurrency: 3\n  part_size_mb: 16\n"
    settings = load_settings(write(tmp_path, text))
    assert (settings.s3.max_concurrency, settings.s3.part_size) == (3, 16 * 1024 * 1024)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "project: demo\ns3:\n  bucket: demo-release\n  regoin: x\n",
            "line 4: unknown key 'regoin' in s3 (did you mean region?)",
        ),
        (
            "project: demo\ns3:\n  bucket: demo-release\n  part_size_mb: 4\n",
            "line 4: s3.part_size_mb: 4 is less than the minimum of 5",
        ),
        (
            "project: demo\ns3:\n  bucket: demo-release\n  max_concurrency: 0\n",
            "line 4: s3.max_concurrency: 0 is less than the minimum of 1",
        ),
        (
            "project: demo\ns3:\n  bucket: Bad_Bucket\n",
            "line 3: s3.bucket: 'Bad_Bucket' does not match",
        ),
        ("s3:\n  bucket: demo-release\n", "line 1: (top level): 'project' is a required property"),
        (
            "project: demo\ns3:\n  bucket: demo-release\ndata_files:\n  id_column: 7\n",
            "line 5: data_files.id_column: 7 is not of type 'string'",
        ),
        ("project: demo\ns3: [unclosed\n", "line 3: "),
        ("- just\n- a list\n", "expected a mapping of settings, found list"),
        (
            "project: demo\ndandi:\n  instance: dandi\n  dandiset: '000123'\n  publish: true\n",
            "line 5: dandi.publish needs dandi.metadata",
        ),
    ],
)
def test_errors_name_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert str(tmp_path / "publishkit.yaml") in caught.value.message
    assert expected in caught.value.message


def test_cli_reports_config_error_with_exit_2(cli, tmp_path: Path, aws_env) -> None:
    write(tmp_path, "project: demo\ns3:\n  bucket: demo-release\n  prefix: /abs\n")
    result = cli("release", "--version", "0.1.0", cwd=tmp_path)
    assert result.exit_code == 2
    assert "line 4: s3.prefix:" in result.stderr
    assert "Traceback" not in result.stderr


def assert_clean_refusal(result, *expected: str) -> None:
    """Exit 2 with one `error:` line holding each expected text; no traceback, no bug report."""
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0]
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


PUBLIC_URL_FIX = "(fix: use only the placeholders {bucket}, {region} and {key}"


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        ("https://data.example.org/{bukket}/{key}", "unknown placeholder {bukket}"),
        ("https://data.example.org/{bucket}}/{key}", "a stray brace (Single '}'"),
        ("https://data.example.org/{bucket.upper}/{key}", "unknown placeholder {bucket.upper}"),
        ("https://data.example.org/{}/{key}", "unknown placeholder {}"),
        ("https://data.example.org/{region:>9}/{key}", "placeholder {region} must be plain"),
        ("https://data.example.org/{{key}}", "no {key} placeholder"),
    ],
)
def test_a_bad_public_url_is_refused_when_the_config_is_read(
    cli, workspace, aws_env, s3_client, public_url: str, expected: str
) -> None:
    workspace.write_config(extra_s3=f'  public_url: "{public_url}"\n')
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert_clean_refusal(
        result, f"publishkit.yaml line 5: s3.public_url: {expected}", PUBLIC_URL_FIX
    )
    assert not (workspace.root / "manifests").exists()
    assert "Versions" not in s3_client.list_object_versions(Bucket=workspace.bucket)


def test_a_good_public_url_is_accepted(tmp_path: Path) -> None:
    text = 'project: demo\ns3:\n  bucket: demo-release\n  public_url: "http://h/{region}/{key}"\n'
    assert load_settings(write(tmp_path, text)).s3.public_url == "http://h/{region}/{key}"


@pytest.mark.parametrize("endpoint", ["http://", "http://bad_host:9000", "http://host:port"])
def test_a_config_endpoint_that_is_not_a_url(cli, tmp_path: Path, endpoint: str) -> None:
    write(tmp_path, f"project: demo\ns3:\n  bucket: demo-release\n  endpoint_url: '{endpoint}'\n")
    result = cli("release", "--version", "1.0.0", cwd=tmp_path)
    assert_clean_refusal(
        result,
        f"line 4: s3.endpoint_url: '{endpoint}' is not an S3 endpoint URL",
        "(fix: set it to the S3 server's URL",
    )


@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [
        ("localhost:9000", "'localhost:9000'"),
        ("not a url", "'not a url'"),
        ("http://", "'http://'"),
        ("https://user:secret@bad host/", "'https://***@bad host/'"),  # no password in a message
    ],
)
@pytest.mark.parametrize("command", ["release", "verify"])
def test_an_aws_endpoint_url_that_is_not_a_url(
    cli, workspace, aws_env, s3_client, monkeypatch, command: str, endpoint: str, shown: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    args = ["release", "--version", "1.0.0"] if command == "release" else ["verify", "m.json"]
    result = cli(*args, cwd=workspace.root)
    assert_clean_refusal(
        result,
        f"AWS_ENDPOINT_URL={shown} is not an S3 endpoint URL",
        "(fix: set it to the S3 server's URL, e.g. http://localhost:9000, or unset it",
    )
    assert "secret" not in result.stderr
    assert "Versions" not in s3_client.list_object_versions(Bucket=workspace.bucket)


def test_verify_outside_a_workspace_checks_aws_endpoint_url(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:9000")
    result = cli("verify", "m.json", cwd=tmp_path)
    assert_clean_refusal(result, "AWS_ENDPOINT_URL='localhost:9000'", "http://localhost:9000")
