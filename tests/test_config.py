"""publishkit.yaml: validated, and every error names the key, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from publishkit.config import load_settings
from publishkit.errors import ConfigError


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "project: demo\ns3:\n  bucket: demo-release\n  regoin: x\n",
            "line 3: s3: Additional properties are not allowed ('regoin' was unexpected)",
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
