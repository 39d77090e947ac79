"""The compiled validators kept between runs: used when whole, compiled again otherwise, never
read from a folder someone else can write to; the same verdicts either way."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest

from publishkit.formats import schema_cache
from publishkit.formats.schema_cache import cache_folder, compiled_validator

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}, "n": {"minimum": 0}},
}
GOOD = {"name": "abc", "n": 1}
BAD = [{"name": "ABC"}, {"n": 1}, {"name": "a", "n": -1}, []]


@pytest.fixture
def temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's folder (where the cache's folder is) moved to tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("compiled again")

    monkeypatch.setattr(fastjsonschema, "compile_to_code", refuse)


def assert_verdicts(check: Any) -> None:
    assert check(GOOD) == GOOD
    for document in BAD:
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            check(document)


def test_a_second_run_reads_the_compiled_code(
    temporary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_verdicts(compiled_validator(SCHEMA, formats={}, use_formats=False))
    folder = cache_folder()
    assert folder is not None and folder.parent == temporary
    assert len(list(folder.iterdir())) == 1
    assert folder.stat().st_mode & 0o777 == 0o700
    no_compiling(monkeypatch)
    assert_verdicts(compiled_validator(SCHEMA, formats={}, use_formats=False))


def test_formats_are_checked_from_the_cache_too(
    temporary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = {"type": "string", "format": "even"}
    formats = {"even": lambda text: len(text) % 2 == 0}
    for _ in range(2):
        check = compiled_validator(schema, formats=formats, use_formats=True)
        assert check("ab") == "ab"
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            check("abc")
        no_compiling(monkeypatch)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # torn
        lambda data: data[:40] + bytes([data[40] ^ 1]) + data[41:],  # a bit flipped
        lambda data: b"",
        lambda data: b"\x00" * 32 + b"not marshal",
    ],
)
def test_a_damaged_entry_is_compiled_again_and_replaced(temporary: Path, damage: Any) -> None:
    compiled_validator(SCHEMA, formats={}, use_formats=False)
    folder = cache_folder()
    assert folder is not None
    (entry,) = folder.iterdir()
    whole = entry.read_bytes()
    entry.write_bytes(damage(whole))
    assert_verdicts(compiled_validator(SCHEMA, formats={}, use_formats=False))
    assert entry.read_bytes() == whole


def test_another_schema_or_version_is_another_entry(
    temporary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled_validator(SCHEMA, formats={}, use_formats=False)
    other = {**SCHEMA, "required": ["n"]}
    check = compiled_validator(other, formats={}, use_formats=False)
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        check({"name": "abc"})  # not the first schema's validator
    monkeypatch.setattr(fastjsonschema, "VERSION", "0.0.0")
    compiled_validator(SCHEMA, formats={}, use_formats=False)
    folder = cache_folder()
    assert folder is not None
    assert len(list(folder.iterdir())) == 3


def test_a_folder_others_can_write_to_is_never_used(temporary: Path) -> None:
    folder = temporary / f"publishkit-schemas-{os.getuid()}"
    folder.mkdir()
    folder.chmod(0o777)  # another user could plant code here
    assert cache_folder() is None
    assert_verdicts(compiled_validator(SCHEMA, formats={}, use_formats=False))
    assert list(folder.iterdir()) == []


def test_a_symlinked_folder_is_never_used(temporary: Path) -> None:
    target = temporary / "elsewhere"
    target.mkdir(mode=0o700)
    (temporary / f"publishkit-schemas-{os.getuid()}").symlink_to(target)
    assert cache_folder() is None
    assert_verdicts(compiled_validator(SCHEMA, formats={}, use_formats=False))
    assert list(target.iterdir()) == []


def test_no_cache_folder_means_compiling_every_time(
    temporary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (temporary / f"publishkit-schemas-{os.getuid()}").write_text("a file, not a folder")
    assert cache_folder() is None
    assert_verdicts(compiled_validator(SCHEMA, formats={}, use_formats=False))
    assert schema_cache._load(temporary / "absent.pyc") is None
