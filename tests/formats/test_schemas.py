"""`publishkit schema NAME`: the JSON Schemas a pip user has no schemas/ folder to read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from publishkit.formats.schemas import schema_dir, schema_names
from publishkit.nwb.templates import builtin_dir

FILES = sorted(schema_dir().rglob("*.schema.json"))


def test_every_schema_file_has_a_name() -> None:
    names = schema_names()
    assert {"config", "manifest", "template", "inspection-report"} <= set(names)
    assert {"nwb-summaries", "nwb-summary"} <= set(names)
    assert "template-objects/units" in names
    assert len(names) == len(FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_schema_prints_the_schema_file(cli, path: Path) -> None:
    name = path.relative_to(schema_dir()).as_posix().removesuffix(".schema.json")
    result = cli("schema", name)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["nope", "../pyproject", "config.schema.json", ""])
def test_an_unknown_schema_name_lists_the_known_ones(cli, name: str) -> None:
    result = cli("schema", name)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: no schema named {name!r} (known: config, inspection-report, lindi-index, "
        "manifest, nwb-summaries, nwb-summary, release-page, site-history, template, "
        "template-objects/dff,"
    )
    assert result.stderr.rstrip().endswith("(fix: e.g. `publishkit schema config`)")
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_schema_help(cli) -> None:
    result = cli("schema", "--help")
    assert result.exit_code == 0
    assert "Print the JSON Schema" in result.stdout and "template-objects/KIND" in result.stdout


def test_hints_name_the_schema_command(cli, tmp_path: Path) -> None:
    (tmp_path / "publishkit.yaml").write_text("project: demo\ns3:\n  bucket: Bad_Bucket\n")
    config = cli("status", "-w", str(tmp_path))
    assert config.exit_code == 2
    assert "(fix: see `publishkit schema config` for the expected keys" in config.stderr

    (tmp_path / "m.json").write_text("{}")
    manifest = cli("manifest", "validate", str(tmp_path / "m.json"))
    assert manifest.exit_code == 1
    assert "(fix: see `publishkit schema manifest`)" in manifest.stderr

    study = tmp_path / "study"
    assert cli("init", str(study), "--template", "timeseries").exit_code == 0
    shutil.copytree(builtin_dir() / "timeseries", study / "tpl" / "timeseries")
    path = study / "tpl" / "timeseries" / "template.yaml"
    (study / "publishkit.yaml").write_text(
        "project: study\nconversion:\n  template: timeseries\n  templates_dir: tpl\n"
    )
    path.write_text(path.read_text().replace("    unit: g\n", "    unit: 7\n"))
    broken_object = cli("convert", "-w", str(study))
    assert broken_object.exit_code == 2
    assert "(fix: see `publishkit schema template-objects/timeseries`)" in broken_object.stderr
    path.write_text(path.read_text().replace("version: 1.0.0", "version: one"))
    broken_template = cli("convert", "-w", str(study))
    assert broken_template.exit_code == 2
    assert "version:" in broken_template.stderr
    assert "(fix: see `publishkit schema template`)" in broken_template.stderr


def test_a_jsonschema_error_is_worded_in_one_line_with_its_place() -> None:
    """first_violation: jsonschema's most relevant error, where it is, what is missing; and,
    asked for the deepest, what is wrong inside the alternative rather than "not valid under
    any of the given schemas"."""
    import jsonschema

    from publishkit.formats.schemas import first_violation

    schema = {
        "type": "object",
        "required": ["name", "when"],
        "properties": {
            "name": {"type": "string"},
            "when": {"anyOf": [{"maxLength": 3}, {"pattern": "^[0-9]{8}$"}]},
        },
    }
    validator = jsonschema.Draft202012Validator(schema)
    missing = first_violation(validator.iter_errors({"name": "x"}))
    assert missing is not None
    assert (missing.path, missing.missing, missing.dotted) == ((), ("when",), "(top level)")
    assert missing.message == "'when' is a required property"
    assert first_violation(validator.iter_errors({"name": "x", "when": "now"})) is None

    long = {"name": "x", "when": "2024"}
    either = first_violation(validator.iter_errors(long))
    deepest = first_violation(validator.iter_errors(long), deepest=True)
    assert either is not None and deepest is not None
    assert either.dotted == deepest.dotted == "when"
    assert either.message == "'2024' is not valid under any of the given schemas"
    assert deepest.message == "'2024' is too long"
    assert "\n" not in deepest.message
