"""Every YAML file publishkit reads is read one bounded way: aliases, duplicate keys, deep nesting,
oversized files and bytes that are not UTF-8 are one-line refusals (exit 2), fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publishkit.errors import ConfigError
from publishkit.formats import yamlio
from publishkit.formats.yamlio import read_yaml


def alias_bomb(levels: int = 8, width: int = 10) -> str:
    """`tables.sessions.columns` holding `width**levels` values through aliases."""
    lines = ["project: demo", "anchors:", "  l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    lines += ["tables:", "  sessions:", f"    columns: *l{levels}", ""]
    return "\n".join(lines)


def refusal(cli, workspace: Path, *args: str) -> str:
    """The one line a refused command prints, its exit code checked to be 2."""
    result = cli(*args, "-w", str(workspace))
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return result.stderr.strip()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def test_an_alias_bomb_in_publishkit_yaml_is_refused_at_once(cli, ws: Path) -> None:
    (ws / "publishkit.yaml").write_text(alias_bomb())
    started = time.monotonic()
    line = refusal(cli, ws, "release", "--version", "1.0.0", "--plan")
    assert time.monotonic() - started < 2
    assert "publishkit.yaml line 4: alias *l0 refused" in line
    assert sorted(p.name for p in ws.iterdir()) == ["publishkit.yaml"]


def test_the_loader_refuses_a_bomb_in_well_under_a_second(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(levels=9))
    started = time.monotonic()
    with pytest.raises(ConfigError, match="alias"):
        read_yaml(path)
    assert time.monotonic() - started < 1


def test_a_key_given_twice_is_refused_naming_both_lines(cli, ws: Path) -> None:
    (ws / "publishkit.yaml").write_text("project: one\nconversion:\n  template: x\nproject: two\n")
    line = refusal(cli, ws, "status")
    assert "publishkit.yaml line 4: key 'project' is given twice (lines 1 and 4)" in line


def test_an_unknown_top_level_key_is_named_at_its_line_with_the_close_match(cli, ws: Path) -> None:
    (ws / "publishkit.yaml").write_text(
        "project: demo\n# the tables\nmetadata_file:\n  sessions: sessions.csv\n"
    )
    line = refusal(cli, ws, "status")
    assert "publishkit.yaml line 3: unknown key 'metadata_file' at the top level" in line
    assert "did you mean metadata_files?" in line


def test_a_latin1_byte_in_publishkit_yaml_is_one_line(cli, ws: Path) -> None:
    (ws / "publishkit.yaml").write_bytes(b"project: demo\n# caf\xe9\n")
    line = refusal(cli, ws, "status")
    assert "publishkit.yaml line 2: byte 0xe9 at offset 19 is not UTF-8" in line
    assert "save publishkit.yaml as UTF-8" in line


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a: " + "[" * 100 + "]" * 100 + "\n", "line 1: nested more than 64 levels deep"),
        ("a: 2020-13-45\n", "line 1: value cannot be read (month must be in 1..12)"),
        ("a: " + "9" * 5000 + "\n", "line 1: value cannot be read (Exceeds the limit"),
        ("a: 1\nb: \x00\n", "line 2: character U+0000 is not allowed in YAML"),
        ("{a: 1, a: 2}\n", "line 1: key 'a' is given twice (twice on line 1)"),
    ],
)
def test_other_unreadable_yaml_is_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    assert says in caught.value.message and "\n" not in caught.value.message


def test_a_file_over_the_size_cap_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlio, "MAX_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n" * 100)
    with pytest.raises(ConfigError, match=r"big\.yaml: larger than"):
        read_yaml(path)


def test_dandiset_yaml_and_templates_go_through_the_same_loader(cli, ws: Path) -> None:
    (ws / "publishkit.yaml").write_text(
        "project: demo\ndandi:\n  instance: dandi-sandbox\n  dandiset: '000123'\n"
        "  metadata: dandiset.yaml\n"
    )
    (ws / "dandiset.yaml").write_text(alias_bomb().replace("project: demo", "name: x"))
    started = time.monotonic()
    line = refusal(cli, ws, "dandi", "metadata", "check")
    assert time.monotonic() - started < 2
    assert "dandiset.yaml line 4: alias *l0 refused" in line

    (ws / "publishkit.yaml").write_text(
        "project: demo\nconversion:\n  template: mine\n  templates_dir: templates\n"
    )
    (ws / "templates" / "mine").mkdir(parents=True)
    (ws / "templates" / "mine" / "template.yaml").write_text("name: mine\nname: mine\n")
    line = refusal(cli, ws, "convert")
    assert "template.yaml line 2: key 'name' is given twice (lines 1 and 2)" in line
    assert not (ws / "nwb").exists()


_BASE = ["project: demo", "s3:", "  bucket: demo-release", "  region: us-east-1", "tables: {}"]


@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # cli keeps nothing per example
)
@given(data=st.data())
def test_fuzz_aliases_and_duplicate_keys_are_refused_in_one_line(
    cli, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """An alias, or a key given again, at a random place of publishkit.yaml: `publishkit status`
    refuses it (exit 2) with one line naming the line, never a hang or a traceback."""
    lines = list(_BASE)
    at = data.draw(st.integers(min_value=0, max_value=len(lines) - 1), label="line")
    alias = data.draw(st.booleans(), label="alias")
    if alias:  # an anchor on a line, an alias of it on a later one, in place of a value
        key, _, value = lines[at].partition(":")
        lines[at] = f"{key}: &a {value.strip()}".rstrip()  # `s3: &a` anchors its block
        later = data.draw(st.integers(min_value=at + 1, max_value=len(lines)), label="alias at")
        indent = "  " if 1 < later < 4 else ""
        lines.insert(later, f"{indent}{data.draw(st.sampled_from(['x', 'y_z']))}: *a")
    else:  # the line's key again: a nested key right after it, a top-level one at the end
        end = not lines[at].startswith(" ")
        lines.insert(len(lines) if end else at + 1, lines[at].split(":")[0] + ": again")
    ws = tmp_path_factory.mktemp("fuzz")
    (ws / "publishkit.yaml").write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    line = refusal(cli, ws, "status")
    assert time.monotonic() - started < 2
    assert "publishkit.yaml line " in line
    assert ("alias *a refused" if alias else "is given twice") in line
