"""The convert stage: one NWB file per sessions-table row, through a template.

A row that fails is reported with its row, column and reason while the others still convert;
rows whose inputs and template are unchanged since the last conversion are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Generator
from contextlib import closing
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import msgspec

from publishkit.interrupts import Interrupt, never
from publishkit.local_files import put_in_place, shown, write_atomic
from publishkit.nwb import neuroconv_plan, neuroconv_write
from publishkit.nwb.build import BuildContext, ConversionError, identifier_for
from publishkit.nwb.neuroconv_plan import PlannedEntry
from publishkit.nwb.sessions import planned_sessions
from publishkit.nwb.templates import (
    DEFAULT_OUTPUT,
    TEMPLATE_FILE,
    Template,
    find_template,
    render,
    sources,
)
from publishkit.progress import Progress, no_progress
from publishkit.tally import Tally
from publishkit.workspace.config import Settings
from publishkit.workspace.digests import DigestCache
from publishkit.workspace.executors import (
    ExecutorSettings,
    WorkerCrashed,
    executor_for,
    warm_forkserver,
)
from publishkit.workspace.runlock import exclusive_run
from publishkit.workspace.state import Conversion, Conversions, Notices, StateStore

PRELOAD = ("publishkit.nwb.convert", "pynwb")  # what conversion workers import once, warm
Status = Literal["converted", "unchanged", "failed"]


class RowOutcome(msgspec.Struct, frozen=True):
    row: int  # 1-based data row; the table's line is row + 1
    output: str | None  # relative to the workspace
    status: Status
    column: str | None = None
    reason: str | None = None


class ConversionReport(Tally, msgspec.Struct, frozen=True):
    """What convert did to each row of the sessions table."""

    ITEMS, OUTCOME = "outcomes", "status"
    OUTCOMES = ("converted", "unchanged", "failed")

    template: str
    template_version: str
    sessions: str
    outcomes: tuple[RowOutcome, ...]
    removed: tuple[str, ...] = ()  # outputs of rows no longer in the table, deleted
    files_table: str | None = None
    notices: tuple[str, ...] = ()  # said once per workspace, e.g. that converting runs lab code

    def as_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "template_version": self.template_version,
            "sessions": self.sessions,
            "ok": self.ok,
            "counts": self.counts(),
            "rows": self.items_json(),
            "removed": list(self.removed),
            "files_table": self.files_table,
            "notices": list(self.notices),
        }


class _Task(msgspec.Struct, frozen=True):
    row: int
    output: Path
    key: str
    spec: dict[str, Any]  # rendered nwbfile, subject, objects
    row_values: dict[str, str]
    identifier: str
    provenance: str
    sources: tuple[PlannedEntry, ...] = ()  # the row's kind: neuroconv objects


def convert_sessions(
    *,
    settings: Settings,
    jobs: int = 1,
    wait: bool = False,
    progress: Progress = no_progress,
    interrupt: Interrupt = never,
) -> ConversionReport:
    """One NWB file per row of the sessions table, unchanged rows skipped, failing rows
    reported while the others convert; one writing run of the workspace at a time.
    Interrupted, no row starts; those under way finish (each file is put in place whole)."""
    with exclusive_run(settings.state_dir, "convert", wait=wait):
        return _convert(settings=settings, jobs=jobs, progress=progress, interrupt=interrupt)


def _convert(
    *, settings: Settings, jobs: int, progress: Progress, interrupt: Interrupt
) -> ConversionReport:
    conversion = settings.conversion
    template = find_template(conversion.template, conversion.templates_dir)
    rows = planned_sessions(settings, template.document)
    preload = PRELOAD + neuroconv_plan.preload(template.document)
    if jobs > 1 and len(rows) > 1 and not settings.executor.dask:
        warm_forkserver(preload)  # the workers' imports run while the rows are planned
    with StateStore.in_dir(settings.state_dir) as store:
        outcomes, tasks = _plan_rows(store, template, settings, rows)
        notices = _notices(store, template) if tasks else []
        progress("Converting", len(outcomes), len(rows))
        running = _run(tasks, settings.workspace, jobs, settings.executor, preload)
        with closing(running):  # stopped here: the rows not started never start
            for task, error in running:
                output = shown(task.output, settings.workspace)
                if error is None:
                    _record(store, task)
                    outcomes[task.row] = RowOutcome(task.row, output, "converted")
                else:
                    outcomes[task.row] = RowOutcome(task.row, output, "failed", *error)
                progress("Converting", 1, len(rows))
                interrupt("the conversion of the rows left")
        planned = {
            str(conversion.output_dir / str(o.output).split("/")[-1])
            for o in outcomes.values()
            if o.output
        }
        removed = _remove_stale(store, planned, settings.workspace)
    ordered = tuple(outcomes[n] for n in sorted(outcomes))
    table = _write_files_table(settings, rows, ordered)
    return ConversionReport(
        template=template.name,
        template_version=template.version,
        sessions=shown(conversion.sessions, settings.workspace),
        outcomes=ordered,
        removed=tuple(removed),
        files_table=shown(table, settings.workspace),
        notices=tuple(notices),
    )


def _interfaces(store: StateStore, template: Template) -> neuroconv_plan.Interfaces:
    return neuroconv_plan.Interfaces(store, str(template.folder / TEMPLATE_FILE))


def _notices(store: StateStore, template: Template) -> list[str]:
    """The notices this workspace has not been given yet (each is given once)."""
    given = Notices(store)
    found = []
    for interface, why in neuroconv_plan.notices(template.document).items():
        if not given.given(f"runs-code:{interface}"):
            found.append(
                f"{interface} runs code from the lab's data ({why}): convert only data you trust"
            )
            given.keep(f"runs-code:{interface}")
    return found


def plan_conversion(*, settings: Settings) -> tuple[int, int, list[RowOutcome]]:
    """(rows to convert, rows unchanged, rows failing already in planning); writes no file."""
    conversion = settings.conversion
    template = find_template(conversion.template, conversion.templates_dir)
    rows = planned_sessions(settings, template.document)
    with StateStore.in_dir(settings.state_dir) as store:
        outcomes, tasks = _plan_rows(store, template, settings, rows)
    failing = [o for o in outcomes.values() if o.status == "failed"]
    return len(tasks), len(outcomes) - len(failing), failing


def _plan_rows(
    store: StateStore, template: Template, settings: Settings, rows: list[dict[str, str]]
) -> tuple[dict[int, RowOutcome], list[_Task]]:
    """Rows already decided (unchanged, or failing to plan) and the tasks to run."""
    digests = DigestCache(store)
    known = _interfaces(store, template)
    neuroconv_plan.check_template(template.document, template.folder / TEMPLATE_FILE, known)
    outcomes: dict[int, RowOutcome] = {}
    tasks: list[_Task] = []
    claimed: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        try:
            task = _plan(template, settings, number, row, digests, claimed, known)
        except ConversionError as exc:
            outcomes[number] = RowOutcome(number, None, "failed", exc.column, exc.reason)
            continue
        if _unchanged(store, task):
            outcomes[number] = RowOutcome(
                number, shown(task.output, settings.workspace), "unchanged"
            )
        else:
            tasks.append(task)
    return outcomes, tasks


def _remove_stale(store: StateStore, planned: set[str], root: Path) -> list[str]:
    """Outputs of rows that left the sessions table go too (only files convert wrote)."""
    removed = []
    conversions = Conversions(store)
    for output in conversions.outputs():
        if output not in planned:
            Path(output).unlink(missing_ok=True)
            conversions.forget(output)
            removed.append(shown(Path(output), root))
    return removed


def _write_files_table(
    settings: Settings, rows: list[dict[str, str]], outcomes: tuple[RowOutcome, ...]
) -> Path:
    """The NWB files made, one row each (id, path, then the session's columns): the table a
    release publishes, so that every data file is listed with its session's metadata."""
    conversion = settings.conversion
    id_column, path_column = settings.id_column, settings.path_column
    buffer = io.StringIO()
    columns = [id_column, path_column] + [c for c in rows[0] if c not in (id_column, path_column)]
    writer = csv.DictWriter(buffer, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for outcome in outcomes:
        if outcome.status != "failed" and outcome.output:
            row = rows[outcome.row - 1]
            writer.writerow(
                {**row, id_column: Path(outcome.output).stem, path_column: outcome.output}
            )
    write_atomic(conversion.files_table, buffer.getvalue())
    return conversion.files_table


def _plan(
    template: Template,
    settings: Settings,
    number: int,
    row: dict[str, str],
    digests: DigestCache,
    claimed: dict[str, int],
    known: neuroconv_plan.Interfaces,
) -> _Task:
    document = template.document
    name = str(render(document.get("output", DEFAULT_OUTPUT), row, "output"))
    pure = PurePosixPath(name)
    if len(pure.parts) != 1 or not name.endswith(".nwb") or name.startswith("."):
        raise ConversionError(f"output: {name!r} is not a plain .nwb file name", "output")
    if name in claimed:
        raise ConversionError(
            f"output: {name} is also the output of row {claimed[name]}; rows need distinct "
            "subject_id/session_id",
            "session_id",
        )
    claimed[name] = number
    spec = {key: render(document[key], row, key) for key in ("nwbfile", "subject", "objects")}
    context = BuildContext(settings.workspace, row, number)
    own = [o for o in spec["objects"] if o.get("kind") != neuroconv_plan.KIND]
    inputs = sorted({str(context.source(s, "source")) for s in sources(own)})
    planned = [
        neuroconv_plan.plan_entry(
            rendered, raw, settings.workspace, template.folder / TEMPLATE_FILE, known
        )
        for rendered, raw in zip(
            neuroconv_plan.entries(spec["objects"]),
            neuroconv_plan.entries(document["objects"]),
            strict=True,
        )
    ]
    what: list[Any] = [template.digest, row, [(p, digests.get(Path(p)).blake2b) for p in inputs]]
    provenance = template.provenance
    if planned:  # NeuroConv's inputs, its version and its readers' decide too
        files = sorted({str(p) for entry in planned for p in entry.inputs})
        versions = neuroconv_plan.versions()
        what += [[(p, digests.get(Path(p)).blake2b) for p in files], versions, _bridge_digest()]
        provenance += f"; neuroconv {versions['neuroconv']}"
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
    return _Task(
        row=number,
        output=settings.conversion.output_dir / name,
        key=key,
        spec=spec,
        row_values=row,
        identifier=identifier_for(template.name, name),
        provenance=provenance,
        sources=tuple(planned),
    )


@cache
def _bridge_digest() -> str:
    """Changes with publishkit's NeuroConv code, so that its outputs are converted again."""
    digest = hashlib.sha256()
    for module in (neuroconv_plan, neuroconv_write):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def _unchanged(store: StateStore, task: _Task) -> bool:
    known = Conversions(store).of(task.output)
    if known is None or not task.output.is_file():
        return False
    stat = task.output.stat()
    return (known.key, known.size, known.mtime_ns) == (task.key, stat.st_size, stat.st_mtime_ns)


def _record(store: StateStore, task: _Task) -> None:
    stat = task.output.stat()
    Conversions(store).keep(Conversion(str(task.output), task.key, stat.st_size, stat.st_mtime_ns))


def _run(
    tasks: list[_Task], root: Path, jobs: int, settings: ExecutorSettings, preload: tuple[str, ...]
) -> Generator[tuple[_Task, tuple[str | None, str] | None], None, None]:
    executor = executor_for(settings, jobs, len(tasks), preload=preload)
    # closed early (an interrupt, an error): no row starts, those under way finish
    outcomes = executor.map_unordered(write_row, tasks, root)
    with closing(outcomes):
        for task, outcome in outcomes:
            if isinstance(outcome, WorkerCrashed):
                yield task, (None, f"the worker converting this row crashed: {outcome}")
            else:
                yield task, outcome


def write_row(task: _Task, root: Path) -> tuple[str | None, str] | None:
    """Build and write one NWB file (atomically); None, or (column, reason) when it fails."""
    import warnings

    from pynwb import NWBHDF5IO

    from publishkit.nwb.build import BUILDERS, new_nwbfile
    from publishkit.nwb.templates import load_builders

    load_builders()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fields, subject = task.spec["nwbfile"], task.spec["subject"]
            if task.sources:
                opened = neuroconv_write.open_sources(list(task.sources))
                fields, subject = neuroconv_write.file_fields(opened, fields, subject)
            nwbfile = new_nwbfile(
                fields, subject, identifier=task.identifier, provenance=task.provenance
            )
            context = BuildContext(root, task.row_values, task.row)
            for index, entry in enumerate(task.spec["objects"]):
                if entry["kind"] == neuroconv_plan.KIND:
                    continue  # added together, below
                try:
                    BUILDERS[entry["kind"]](nwbfile, entry, context)
                except ConversionError as exc:
                    raise ConversionError(
                        f"objects.{index} ({entry['kind']}): {exc.reason}", exc.column
                    ) from None
            if task.sources:
                neuroconv_write.add_sources(nwbfile, opened)
            with put_in_place(task.output) as partial, NWBHDF5IO(str(partial), "w") as io:
                io.write(nwbfile)
    except ConversionError as exc:
        return exc.column, exc.reason
    except Exception as exc:  # pynwb's own refusals (shapes, types) are per-row failures too
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None
