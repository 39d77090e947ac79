"""Each decision has one home (issue 22): the rules that a second copy would break, checked on
the source like the layout's rules (tests/test_layout.py)."""

from __future__ import annotations

import ast
from collections.abc import Callable

import pytest

from tests.test_layout import ALL, imports, known, modules, publishkit_imports, room


def _calls(module: str, owner: str, names: set[str]) -> list[str]:
    """`owner.name(...)` calls in `module` (e.g. os.replace), as "line N: owner.name"."""
    found = []
    for node in ast.walk(ast.parse(modules()[module].read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in names
            and isinstance(node.value, ast.Name)
            and node.value.id == owner
        ):
            found.append(f"line {node.lineno}: {owner}.{node.attr}")
    return found


@pytest.mark.parametrize("module", ALL)
def test_files_are_put_in_place_by_local_files_only(module: str) -> None:
    """One atomic writer (local_files: synced, renamed, the folder synced; the mode the umask
    gives): a second one forgets the fsync or toggles the process-wide umask."""
    if module == "local_files":
        return
    found = _calls(module, "os", {"replace", "rename", "fsync", "umask"})
    found += _calls(module, "tempfile", {"mkstemp", "NamedTemporaryFile"})
    probes = {"writable", "consume.fetch"}  # a probe file created and removed, never kept
    if module in probes:
        found = [f for f in found if not f.endswith("tempfile.mkstemp")]
    assert not found, f"{module} writes a file in place itself: {found}; use local_files"


def test_the_writer_rule_sees_a_writer() -> None:
    assert _calls("local_files", "os", {"replace", "fsync"})


@pytest.mark.parametrize("module", [m for m in ALL if room(m) == "s3"])
def test_the_object_store_needs_no_workspace_for_its_value_types(module: str) -> None:
    """FileDigests and Hasher are formats' (a manifest's record of content): s3 and the
    workspace both import them from there. The one workspace part s3 uses is the journal its
    multipart uploads resume from."""
    for name in publishkit_imports(module):
        target = known(name)
        if room(target) == "workspace":
            assert target == "workspace.state.uploads", f"{module} imports {target}"


def test_one_hasher_protocol_and_one_file_digests() -> None:
    """Defined once: a second `class Hasher(Protocol)` drifts (the two had different methods)."""
    defined: dict[str, list[str]] = {}
    for module in ALL:
        for node in ast.walk(ast.parse(modules()[module].read_text())):
            if isinstance(node, ast.ClassDef) and node.name in {"Hasher", "FileDigests"}:
                defined.setdefault(node.name, []).append(module)
    assert defined == {"Hasher": ["formats.file_digests"], "FileDigests": ["formats.file_digests"]}


def _strings(module: str) -> list[tuple[int, str]]:
    """The string constants of `module` (f-strings' literal parts too), docstrings aside."""
    tree = ast.parse(modules()[module].read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


@pytest.mark.parametrize("module", ALL)
def test_the_files_beside_a_manifest_are_named_in_one_place(module: str) -> None:
    """The release writes release_notes.md and manifests/, the site links them, the preflight
    checks their keys: spelled once, in formats/release_layout.py (site/history.py had its own)."""
    if module == "formats.release_layout":
        return
    spelled = [
        f"line {line}: {value!r}"
        for line, value in _strings(module)
        if value in {"release_notes.md", "manifests", "manifests/"}
        or value.startswith(("manifests/", "/manifests/"))
    ]
    assert not spelled, f"{module} spells a release's layout itself: {spelled}"


def test_one_dandi_version_value_type() -> None:
    """The DANDI stage returns it, the release records it, the site shows it: one class."""
    defined = [
        module
        for module in ALL
        for node in ast.walk(ast.parse(modules()[module].read_text()))
        if isinstance(node, ast.ClassDef) and node.name == "DandiVersion"
    ]
    assert defined == ["formats.release_layout"]


@pytest.mark.parametrize("module", ALL)
def test_the_archives_rules_are_written_once(module: str) -> None:
    """The asset path rule (formats/dandi_paths.py: the sandbox's copy still had A-z) and the
    fields the archive computes (formats/dandi_computed.py: the sandbox's and publishing's
    lists had drifted) each have one home the sandbox and the stages import."""
    tree = ast.parse(modules()[module].read_text())
    if module != "formats.dandi_paths":
        rules = [value for _, value in _strings(module) if "(),&" in value or "A-z0-9" in value]
        assert not rules, f"{module} writes the archive's path rule itself: {rules}"
    if module != "formats.dandi_computed":
        lists = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Set | ast.Tuple | ast.List)
            and {"manifestLocation", "contentUrl"}
            & {e.value for e in node.elts if isinstance(e, ast.Constant)}
        ]
        assert not lists, f"{module} lists the archive's computed fields itself (lines {lists})"


@pytest.mark.parametrize("module", ALL)
def test_jsonschema_errors_are_put_in_words_in_one_place(module: str) -> None:
    """formats/schemas.py's first_violation picks jsonschema's most relevant error and words
    it in one line; six modules each chose the error their own way (jsonschema's best_match,
    or a loop deeper into anyOf's alternatives) and worded it their own way."""
    if module == "formats.schemas":
        return
    tree = ast.parse(modules()[module].read_text())
    jsonschema_errors = {"!jsonschema", "!dandischema"} & imports(modules()[module])
    words = {"best_match", "validator_value"} | ({"context"} if jsonschema_errors else set())
    found = [
        f"line {node.lineno}: {node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in words
    ]
    found += [
        f"line {node.lineno}: import {alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "jsonschema.exceptions"
        for alias in node.names
        if alias.name == "best_match"
    ]
    assert not found, f"{module} words a jsonschema error itself: {found}; use first_violation"


def _handlers(module: str, exception: str) -> set[str]:
    """The functions of `module` with an `except` clause naming `exception`."""
    found = set()
    for function in ast.walk(ast.parse(modules()[module].read_text())):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
                if exception in names:
                    found.add(function.name)
    return found


def test_the_buckets_requests_map_the_stores_refusals_in_one_place() -> None:
    """S3Bucket._ask turns a ClientError into publishkit's errors (a code that means "none":
    None; any other: refusals.storage_error); the three that read a refusal's headers aside,
    no request method catches ClientError itself (eight once did, each its own way)."""
    assert _handlers("s3.bucket", "ClientError") == {"_ask", "versioning", "location", "deleted"}


_SECTIONS = {"s3_settings", "conversion_settings", "dandi_settings", "inspection_enabled"}


@pytest.mark.parametrize("module", ALL)
def test_whether_a_stage_is_enabled_is_decided_by_the_settings_alone(module: str) -> None:
    """workspace/settings.py's properties (converts, inspects, organizes, uploads, publishes,
    writes_manifest, writes_notes; dandi_enabled, s3_enabled) are the one place that reads a
    section's presence as a stage enabled: ten places once did, and the plan and the release
    disagreed."""
    if module in {"workspace.settings", "workspace.config"}:  # the settings, and their loader
        return
    found = []
    for node in ast.walk(ast.parse(modules()[module].read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "inspection_enabled":
            found.append(f"line {node.lineno}: .inspection_enabled")
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Attribute)
            and node.left.attr in _SECTIONS
            and isinstance(node.ops[0], ast.Is | ast.IsNot)
        ):
            found.append(f"line {node.lineno}: .{node.left.attr} is (not) None")
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            attrs = {v.attr for v in node.values if isinstance(v, ast.Attribute)}
            if {"instance", "dandiset"} <= attrs:
                found.append(f"line {node.lineno}: .instance and .dandiset")
    assert not found, f"{module} decides whether a stage is enabled itself: {found}"


@pytest.mark.parametrize("module", ALL)
def test_dandi_cli_s_client_is_made_in_one_place(module: str) -> None:
    """dandi/api.py makes dandi-cli's client (a timeout on every request, the key given, never
    dandi-cli's own search of the environment and keyring): `DandiAPIClient(...)` or
    `.for_dandi_instance(...)` elsewhere asks the archive on terms of its own."""
    if module == "dandi.api":
        return
    found = _calls(module, "DandiAPIClient", {"for_dandi_instance"})
    found += [
        f"line {node.lineno}: DandiAPIClient(...)"
        for node in ast.walk(ast.parse(modules()[module].read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "DandiAPIClient"
    ]
    assert not found, f"{module} makes dandi-cli's client itself: {found}; use dandi.api"


def test_the_client_rule_sees_a_client() -> None:
    assert "DandiAPIClient(" in modules()["dandi.api"].read_text()


def _where(module: str, found: Callable[[ast.AST], bool]) -> list[str]:
    """`module`'s functions ("line N: function") holding a node that `found` says yes to."""
    places = []
    for function in ast.walk(ast.parse(modules()[module].read_text())):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if found(node):
                    places.append(f"{module}.{function.name}")
    return places


def _calls_stage_release(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "stage_release")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "stage_release")
    )


def _sets_staged(node: ast.AST) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else []
    targets += [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else []
    return any(isinstance(t, ast.Attribute) and t.attr == "staged" for t in targets)


def test_a_release_is_staged_at_one_point_of_its_path() -> None:
    """The S3 release is staged once, by `preflight.stage` (issue 22: `Run.stage_s3()` was
    called lazily from nine places and the pipeline threw the staging away after the DANDI
    upload to read it all again); every other step takes `run.staged` as it is. The
    `publishkit upload` command stages its own upload (a path of its own, without a run)."""
    calls = [place for module in ALL for place in _where(module, _calls_stage_release)]
    assert sorted(calls) == ["release.preflight.stage", "release.s3_upload.upload_to_s3"]
    sets = [place for module in ALL for place in _where(module, _sets_staged)]
    assert sets == ["release.preflight.stage"]


def test_the_staging_rule_sees_a_second_staging_point() -> None:
    """The rule's own check: the pipeline's old `run.staged = None` is what it refuses."""
    tree = ast.parse("def _upload(run):\n    run.staged = None\n    stage_release()\n")
    assert [n for n in ast.walk(tree) if _sets_staged(n)]
    assert [n for n in ast.walk(tree) if _calls_stage_release(n)]
