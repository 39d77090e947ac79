"""How the command line shows results to people: rich text on stdout, progress on stderr.

Only `cli/` uses this module; the stages never print.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from publishkit.cli.consoles import err, out
from publishkit.cli.progress_bars import Bars as Bars  # the commands' progress, on stderr
from publishkit.cli.progress_bars import size_text

if TYPE_CHECKING:  # the S3 stages load boto3: only their own commands import them
    from rich.table import Table

    from publishkit.consume.fetch import FetchReport
    from publishkit.consume.verify import VerifyReport
    from publishkit.dandi.metadata import MetadataReport
    from publishkit.dandi.version_publish import PublishReport
    from publishkit.demo import DemoResult
    from publishkit.inspection.inspect_files import InspectionReport
    from publishkit.nwb.convert import ConversionReport
    from publishkit.release.plan import ReleasePlan
    from publishkit.release.results import PipelineResult, ReleaseResult
    from publishkit.release.status import WorkspaceStatus
    from publishkit.workspace.table_checks import TableCheckReport


def escape(text: str) -> str:
    """`text` shown as it is inside rich markup (rich imported only when markup is printed)."""
    from rich.markup import escape

    return escape(text)


def _table(*columns: str, **options: Any) -> Table:
    from rich.table import Table

    return Table(*columns, **options)


def print_json(document: Any) -> None:
    out.out(json.dumps(document, indent=2, sort_keys=True), highlight=False)


_STATUS_STYLE = {
    "ok": "green",
    "missing": "red",
    "size-mismatch": "red",
    "hash-mismatch": "red",
    "error": "red",
}


_LEVEL_STYLE = {
    "ERROR": "bold red",
    "PYNWB_VALIDATION": "red",
    "CRITICAL": "red",
    "BEST_PRACTICE_VIOLATION": "yellow",
    "BEST_PRACTICE_SUGGESTION": "dim",
}


def verdict(report: InspectionReport) -> str:
    cached = sum(f.cached for f in report.files)
    counts = f"{len(report.files)} file(s), {cached} from cache"
    if report.passed:
        return f"PASSED: {counts}; nothing at or above {report.fail_on}"
    return f"FAILED: {report.failure_summary()} ({counts})"


def plain_summary(report: InspectionReport) -> str:
    from publishkit.inspection.report import brief, summary

    lines = [
        f"{imp} {check}: {n_files} file(s), {n} message(s)"
        for imp, check, n_files, n in summary(report)
    ]
    lines += [
        f"{path}: {f.importance} {f.check_function_name}: {brief(f.message)}"
        for f in report.failing
        for path in f.files
    ]
    return "\n".join([*lines, verdict(report)]) + "\n"


def github_annotations(report: InspectionReport, tables: TableCheckReport | None = None) -> str:
    """`--format github`: an annotation per finding and file (and per table finding, on its
    line), then the verdict as one more."""
    from publishkit.inspection.report import as_github, tables_github, workflow_command

    lines = as_github(report) + (tables_github(tables) if tables is not None else [])
    ok = report.passed and (tables is None or tables.passed)
    said = verdict(report) + (f"; {tables_verdict(tables)}" if tables is not None else "")
    last = workflow_command("notice" if ok else "error", said, title="publishkit inspect")
    return "\n".join([*lines, last]) + "\n"


def print_inspection(report: InspectionReport) -> None:
    from publishkit.inspection.report import brief, summary

    rows = summary(report)
    if rows:
        table = _table("importance", "check", "files", "messages", box=None)
        for importance, check, n_files, n in rows:
            style = _LEVEL_STYLE[importance]
            table.add_row(f"[{style}]{importance}[/]", escape(check), str(n_files), str(n))
        out.print(table)
    for item in report.failing:
        where = f" at {item.location}" if item.location else ""
        for path in item.files:
            out.print(
                f"{escape(path)}: {item.importance} "
                f"{escape(item.check_function_name)}{escape(where)}: {escape(brief(item.message))}"
            )
    if report.suppressed:
        out.print(f"{len(report.suppressed)} finding(s) suppressed by publishkit.yaml")
    out.print(verdict(report), markup=False)


def print_table_checks(report: TableCheckReport) -> None:
    """Each table finding (table, row, line, column, value, rule, why), then the verdict."""
    for item in report.findings:
        out.print(f"{item.importance} {item.describe()}", markup=False)
    out.print(tables_verdict(report), markup=False)


def tables_verdict(report: TableCheckReport) -> str:
    if report.passed:
        return f"tables: PASSED: {', '.join(report.tables)}; nothing at or above {report.fail_on}"
    return f"tables: FAILED: {report.failure_summary()}"


def print_release(result: ReleaseResult) -> None:
    if result.version is None:
        out.print(f"Nothing changed since v{result.previous_version}; nothing was written.")
        if result.notes_repaired:
            out.print(f"Wrote the missing release notes of v{result.previous_version}.")
        return
    assert result.comparison is not None
    sent = f"uploaded {len(result.uploaded)} file(s)"
    if result.uploaded_earlier:
        sent = f"pinned {result.uploaded_earlier} new or changed file(s) uploaded by an earlier run"
    out.print(f"Released v{result.version}: {sent}, {result.unchanged} unchanged.")
    out.print(f"Manifest: {result.manifest_url}")
    if result.page_url:
        out.print(f"Release page: {result.page_url}")
    out.print(f"Local copy: {result.manifest_path}\n")
    from publishkit.formats.notes import render_markdown

    out.print(render_markdown(result.comparison), markup=False)


def print_verify(report: VerifyReport) -> None:
    table = _table("file", "status", "detail", box=None)
    for check in report.checks:
        if check.status != "ok" or check.warning:
            style = _STATUS_STYLE[check.status]
            detail = check.detail or f"warning: {check.warning}"
            table.add_row(escape(check.path), f"[{style}]{check.status}[/]", escape(detail))
    if table.row_count:
        out.print(table)
    for warning in report.warnings:
        err.print(f"warning: {escape(warning)}")
    bad = sum(c.status != "ok" for c in report.checks)
    what = "present, sizes and hashes match" if report.deep else "present with the recorded size"
    retries = sum(c.retries for c in report.checks)
    tail = f"; {retries} range(s) retried" if retries else ""
    if bad:
        out.print(f"v{report.version}: {bad} of {len(report.checks)} file(s) FAILED{tail}")
    else:
        out.print(f"v{report.version}: all {len(report.checks)} file(s) {what}{tail}")


def print_fetch(report: FetchReport) -> None:
    for item in report.files:
        if item.outcome == "failed":
            err.print(f"failed: {escape(item.path)}: {escape(item.detail)}")
    retries = sum(item.retries for item in report.files)
    resumed = sum(item.resumed for item in report.files)
    out.print(
        f"{report.root}: {report.count('downloaded')} downloaded, "
        f"{report.count('linked')} linked, {report.count('present')} already present, "
        f"{report.count('failed')} failed"
        + (f"; {resumed} bytes kept from an interrupted fetch" if resumed else "")
        + (f"; {retries} range(s) retried" if retries else "")
    )
    if report.indexes_not_fetched:
        err.print(
            f"note: {report.indexes_not_fetched} LINDI index(es) not fetched: they read the "
            "files from the bucket (open_release uses them; `publishkit verify` checks them)"
        )


def print_conversion(report: ConversionReport) -> None:
    for notice in report.notices:
        err.print(f"note: {escape(notice)}")
    for outcome in report.outcomes:
        if outcome.status == "failed":
            column = f", column {outcome.column}" if outcome.column else ""
            err.print(
                f"{escape(report.sessions)} row {outcome.row} (line {outcome.row + 1}){column}: "
                f"{escape(outcome.reason or '')}"
            )
    out.print(
        f"template {report.template} {report.template_version}: "
        f"{report.count('converted')} converted, {report.count('unchanged')} unchanged, "
        f"{report.count('failed')} failed"
    )


def print_uploads(summary: dict[str, Any]) -> None:
    dandi = summary.get("dandi")
    if dandi:
        for item in dandi["files"]:
            if item["outcome"] == "failed":
                err.print(f"failed: {escape(item['dandi_path'])}: {escape(item['reason'] or '')}")
        counts = dandi["counts"]
        out.print(
            f"DANDI {escape(dandi['instance'])} dandiset {dandi['dandiset']}: "
            f"{counts['uploaded']} uploaded, {counts['unchanged']} unchanged, "
            f"{counts['removed']} removed, {counts['failed']} failed"
        )
    s3 = summary.get("s3")
    if s3:
        print_s3_upload(s3)


def print_s3_upload(s3: dict[str, Any]) -> None:
    """What the S3 upload sent: files, bytes, resumed and restarted uploads, retries."""
    line = f"S3: {len(s3['uploaded'])} uploaded, {s3['unchanged']} unchanged"
    if s3.get("bytes_sent") or s3.get("bytes_resumed"):
        line += f", {size_text(s3['bytes_sent'])} sent"
    if s3.get("retries"):
        line += f", {s3['retries']} request(s) retried"
    out.print(line, markup=False)
    if s3.get("resumed"):
        out.print(
            f"S3: resumed {len(s3['resumed'])} interrupted upload(s), "
            f"{size_text(s3['bytes_resumed'])} already sent kept",
            markup=False,
        )
    for item in s3.get("restarted", ()):
        err.print(
            f"warning: {escape(item['path'])}: its upload started over: {escape(item['reason'])}"
        )


def print_metadata(report: MetadataReport) -> None:
    """Each problem of dandiset.yaml with its line and fix, then the verdict."""
    for problem in report.problems:
        where = f"{report.path} line {problem.line}: " + (
            f"{problem.field}: " if problem.field else ""
        )
        fix = f" (fix: {problem.fix})" if problem.fix else ""
        console = out if problem.severity == "error" else err
        label = "" if problem.severity == "error" else "warning: "
        console.print(f"{label}{where}{problem.message}{fix}", markup=False)
    errors = len(report.errors)
    verdict = "PASSED" if report.ok else f"FAILED: {errors} problem(s) the archive would refuse"
    out.print(
        f"{verdict}: {report.path}, checked as the archive checks a dandiset at publish "
        f"(dandischema {report.schema_version})",
        markup=False,
    )


def print_publish(report: PublishReport) -> None:
    """What the publish stage did on DANDI, and what the archive refused."""
    for line in report.errors:
        err.print(f"refused: {line}", markup=False)
    found = report.version
    where = f"{report.dandiset} on {report.instance}"
    if report.outcome == "failed":
        out.print(f"DANDI publish: dandiset {where} not published: {report.reason}", markup=False)
    elif found is None:
        out.print(f"DANDI publish: dandiset {where} unchanged, never published", markup=False)
    else:
        did = "published" if report.outcome == "published" else "unchanged since"
        link = f" {found.url}" if found.url else ""
        doi = f" (DOI {found.doi})" if found.doi else ""
        out.print(f"DANDI publish: {did} {found.dandiset}/{found.version}{link}{doi}", markup=False)


def print_pipeline(result: PipelineResult) -> None:
    if result.conversion is not None:
        print_conversion(result.conversion)
    if result.inspection is not None:
        out.print(f"inspect: {verdict(result.inspection)}", markup=False)
    if result.tables is not None:
        print_table_checks(result.tables)
    if result.overridden and (result.inspection is not None or result.tables is not None):
        err.print(f"warning: publishing despite failed inspection: {escape(result.overridden)}")
    if result.organized is not None:
        report = result.organized
        out.print(
            f"organize: {report.count('created')} created, {report.count('updated')} "
            f"updated, {report.count('unchanged')} unchanged, {report.count('removed')} "
            "removed"
        )
    summary = {k: v.as_json() for k, v in (("dandi", result.dandi), ("s3", result.s3_upload)) if v}
    if summary:
        print_uploads(summary)
    if result.published is not None:
        print_publish(result.published)
    if result.release is not None:
        print_release(result.release)
    from publishkit.release.pipeline import STAGE_NAMES

    narrowed = len(result.stages) + len(result.skipped) < len(STAGE_NAMES)  # --from/--to/--only
    if result.skipped and narrowed:
        out.print(f"(not enabled by publishkit.yaml: {', '.join(result.skipped)})")


def print_plan(plan: ReleasePlan) -> None:
    for line in plan.lines:
        out.print(line, markup=False)
    if plan.refusal:
        out.print(f"The release would be refused: {plan.refusal}", markup=False)
    if plan.notes:
        out.print("\nDraft release notes:\n", markup=False)
        out.print(plan.notes, markup=False)


def print_demo(result: DemoResult, seconds: float, *, keep: bool) -> None:
    out.print("[bold]Release 1.0.0[/]")
    print_pipeline(result.first)
    out.print("\n[bold]Then the data changed:[/]")
    for change in result.changes:
        out.print(f"  - {escape(change)}")
    out.print("\n[bold]The next release[/]")
    print_pipeline(result.second)
    out.print("\n[bold]Its release notes[/]\n")
    out.print(result.notes, markup=False)
    print_verify(result.verified)
    if keep and result.page is not None:
        out.print(f"Its release page, as a local copy: {result.page.as_uri()}", markup=False)
    where = f"; the workspace is in {result.workspace}" if keep else ""
    out.print(f"\nDemo done in {seconds:.0f} s{where}.", markup=False)


def print_status(report: WorkspaceStatus) -> None:
    out.print(
        f"stages enabled: {', '.join(report.enabled) or 'none'}; latest release: "
        f"{'v' + report.latest_release if report.latest_release else 'none'}"
    )
    dandi = report.dandi_version
    if dandi:
        link = f" {dandi['url']}" if dandi.get("url") else ""
        out.print(
            f"DANDI version of that release: {dandi['dandiset_id']}/{dandi['version']}{link}",
            markup=False,
        )
    table = _table(
        "file",
        "inspection",
        "dandiset path",
        "in DANDI draft",
        "in latest release",
        "in its DANDI version",
        box=None,
    )
    for item in report.files:
        table.add_row(
            escape(item.path),
            item.inspected,
            escape(item.dandi_path or "-"),
            "yes" if item.on_dandi else "no",
            f"v{item.in_release}" if item.in_release else "no",
            escape(item.in_dandi_version or "no"),
        )
    out.print(table)
