"""The rules of the package's layout (ARCHITECTURE.md), checked on the source, not hoped for.

Every import of every module counts, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "publishkit"
CORE = {
    "background",
    "collector",
    "errors",
    "local_files",
    "progress",
    "interrupts",
    "resources",
    "upstream",
    "",
}  # "" is publishkit itself (__version__)
STAGES = {"nwb", "inspection", "dandi", "release", "consume", "reading"}
ORCHESTRATORS = {
    "release.pipeline",
    "release.stages",
    "release.results",
    "release.plan",
    "release.preflight",
    "release.status",
}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Dotted name under publishkit (e.g. "release.s3_staging") -> file."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """The publishkit modules `path` imports (dotted, without 'publishkit.'), and the
    third-party top-level packages prefixed with '!'."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "publishkit" or name.startswith("publishkit."):
                found.add(name.removeprefix("publishkit").lstrip("."))
            else:
                found.add("!" + name.split(".")[0])
    return found


def room(module: str) -> str:
    """The subpackage a module lives in ("" for the top level)."""
    return module.split(".")[0] if "." in module else ("" if module in CORE else module)


def publishkit_imports(module: str) -> set[str]:
    return {name for name in imports(modules()[module]) if not name.startswith("!")}


def known(name: str) -> str:
    """The module an imported name refers to: itself, or the module it was imported from."""
    table = modules()
    while name and name not in table:
        name = name.rpartition(".")[0]
    return name


ALL = sorted(modules())


@pytest.mark.parametrize("module", ALL)
def test_only_the_cli_imports_typer_rich_and_the_sandbox(module: str) -> None:
    if room(module) == "cli":
        return
    third_party = {n for n in imports(modules()[module]) if n.startswith("!")}
    assert not third_party & {"!typer", "!rich"}, f"{module} imports typer or rich"
    if room(module) != "sandbox":
        sandbox = {n for n in publishkit_imports(module) if room(known(n)) == "sandbox"}
        assert not sandbox, f"{module} imports the sandbox: {sandbox}"


@pytest.mark.parametrize("module", ALL)
def test_the_sandbox_imports_no_stage(module: str) -> None:
    """The sandbox is local stand-ins for the services a release talks to: it sits below the
    stages in the import graph (the demo, which drives the stages, is a command, not a part)."""
    if room(module) != "sandbox":
        return
    for name in publishkit_imports(module):
        target = known(name)
        assert room(target) in {"sandbox", "formats", ""} or target in CORE, (
            f"{module} imports {target}"
        )


@pytest.mark.parametrize("module", ALL)
def test_documents_and_the_workspace_import_no_stage(module: str) -> None:
    if room(module) not in {"formats", "workspace", "s3", "site"}:
        return
    allowed = (
        {"formats", "workspace", "s3", "site", ""} if room(module) != "formats" else {"formats", ""}
    )
    for name in publishkit_imports(module):
        target = known(name)
        assert room(target) in allowed or target in CORE, f"{module} imports {target}"


@pytest.mark.parametrize("module", ALL)
def test_stages_do_not_import_each_other(module: str) -> None:
    """Only the orchestrators (release.pipeline, preflight, plan, status) reach into other stages; a
    stage reads what another recorded through workspace.state."""
    if room(module) not in STAGES or module in ORCHESTRATORS:
        return
    for name in publishkit_imports(module):
        target = known(name)
        other = room(target)
        assert other not in STAGES or other == room(module), f"{module} imports {target}"


@pytest.mark.parametrize("module", ALL)
def test_no_module_is_over_400_lines(module: str) -> None:
    lines = modules()[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines; split it by what each part promises"


@pytest.mark.parametrize("module", ALL)
def test_the_core_never_touches_the_environment(module: str) -> None:
    """The CLI reads the environment and passes values in; the core neither reads nor writes
    os.environ (the sandbox's own servers aside, which only the CLI starts)."""
    if room(module) in {"cli", "sandbox"}:
        return
    tree = ast.parse(modules()[module].read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "putenv"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            pytest.fail(f"{module} line {node.lineno}: os.{node.attr}")


def _plurals(names: set[str]) -> set[tuple[str, str]]:
    """The pairs of names where one is the other's plural (stage/stages, entry/entries)."""
    pairs = set()
    for name in names:
        for plural in (name + "s", name + "es", name.removesuffix("y") + "ies"):
            if plural != name and plural in names:
                pairs.add((name, plural))
    return pairs


# Records are msgspec Structs, not dataclasses: a dataclass's methods are written as source and
# compiled as its module is imported (~0.8 ms a class), a Struct's are not (~20 us); a release
# imports ~80 records, ~60 ms of a release after one change. `Version` keeps a dataclass: it is
# ordered by one field of its own, which a Struct cannot say.
DATACLASSES = {"formats.versions"}


@pytest.mark.parametrize("module", ALL)
def test_records_are_structs_not_dataclasses(module: str) -> None:
    tree = ast.parse(modules()[module].read_text())
    decorated = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for decorator in node.decorator_list
        if "dataclass" in ast.unparse(decorator)
    ]
    if module in DATACLASSES:
        return
    assert not decorated, f"{module}: {decorated} are dataclasses; make them msgspec.Struct"


def test_no_two_modules_of_a_package_differ_only_by_a_plural() -> None:
    """`stage.py` beside `stages.py` makes a reader guess which holds what (STYLE.md)."""
    by_package: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        by_package.setdefault(str(path.parent.relative_to(PACKAGE)), set()).add(path.stem)
    for path in PACKAGE.rglob("*/"):
        if (path / "__init__.py").exists():  # a subpackage is a name in its parent too
            by_package.setdefault(str(path.parent.relative_to(PACKAGE)), set()).add(path.name)
    found = {(package, pair) for package, names in by_package.items() for pair in _plurals(names)}
    assert not found, f"names that differ only by a plural: {sorted(found)}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(room_name: str) -> dict[str, set[str]]:
    """module -> the modules of the same part it imports (lazy and type-only imports too; a
    module's own parent packages aside, which Python imports first anyway)."""
    members = [m for m in ALL if room(m) == room_name]
    graph: dict[str, set[str]] = {}
    for module in members:
        targets = {known(n) for n in publishkit_imports(module)}
        graph[module] = {
            t for t in targets if t in members and t != module and not module.startswith(t + ".")
        }
    return graph


@pytest.mark.parametrize("room_name", sorted({room(m) for m in ALL} - {""}))
def test_no_import_cycle_inside_a_part(room_name: str) -> None:
    """Modules of one part import each other one way: a cycle means what both need belongs in
    one of them or a third module."""
    assert _cycles(package_graph(room_name)) == []


def test_the_cycle_rule_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    assert _plurals({"stage", "stages", "entry", "entries", "pipeline"}) == {
        ("stage", "stages"),
        ("entry", "entries"),
    }


def test_the_rules_see_what_they_check() -> None:
    """The checks above find imports at all: lazy ones too."""
    assert "release.pipeline" in modules()
    assert "!typer" in imports(modules()["cli.app"])
    pipeline = {known(n) for n in publishkit_imports("release.pipeline")}
    assert {"nwb.convert", "dandi.upload"} <= pipeline  # imported inside functions


def test_the_public_api_is_what_it_says() -> None:
    """Every name in publishkit.__all__ resolves, and importing publishkit loads none of the
    heavy tools (the command line starts fast)."""
    import subprocess
    import sys

    import publishkit

    for name in publishkit.__all__:
        assert getattr(publishkit, name) is not None, name
    probe = "import publishkit, sys; print(sorted({'boto3', 'pynwb', 'dandi'} & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_the_map_names_every_module() -> None:
    """ARCHITECTURE.md is the map a newcomer reads: each module's file is named in it (a module
    added, moved or renamed without the map was how it came to miss four)."""
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    missing = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and path.name not in text
    )
    assert not missing, f"ARCHITECTURE.md does not name {missing}"
