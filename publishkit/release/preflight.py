"""Everything that can refuse a release, decided before the first byte is sent: one place that
`publishkit release` and `release --plan` both run, so the plan and the release cannot disagree.

`preflight` runs before any stage writes: the request itself, the tables, the DANDI instance,
dandiset and key, the dandiset's metadata, the bucket (credentials, versioning, region), the
versions published and the version asked for. `decide` settles the release itself once its
files are known (at once for a workspace that does not convert; after conversion otherwise, but
before the first upload to DANDI or S3): the files and their digests, what changed inside the
tables and NWB files, the version it cuts (given and free, or computed from --bump, which must
not be smaller than the changes call for) and the NWB files whose contents cannot be compared.
Both read only; a refusal in either leaves the bucket and the archive as they were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from publishkit.errors import UsageError, VersionError
from publishkit.formats.comparison import Comparison
from publishkit.formats.versions import BUMPS, Bump, Version
from publishkit.release.decision import Decision
from publishkit.workspace.config import Settings
from publishkit.workspace.settings import METADATA, StageName

if TYPE_CHECKING:
    from publishkit.dandi.metadata import MetadataReport
    from publishkit.release.s3_staging import Staged
    from publishkit.release.stages import Request, Run


def decides_while_inspecting(settings: Settings, selected: tuple[str, ...]) -> bool:
    """The inspect stage settles the S3 release while its workers inspect (reads only, so the
    gate still holds): an S3-only release, whose files nothing changes after inspection."""
    if StageName.INSPECT not in selected or not settings.inspects_files:
        return False
    later = set(selected[selected.index(StageName.INSPECT) + 1 :])
    return (
        settings.s3_enabled
        and bool(later & {StageName.UPLOAD, StageName.MANIFEST})
        and not (settings.dandi_enabled and later & {StageName.ORGANIZE, StageName.UPLOAD})
    )


def check_request(request: Request) -> None:
    """Refuse a request that no workspace could carry out, before the run lock is taken."""
    version, bump, despite = request.version, request.bump, request.despite
    if version and bump:
        raise UsageError("give either --version or --bump, not both")
    if version:
        Version.parse(version)  # a version that is not semver is bad usage, whatever else
    if despite is not None and not despite.strip():
        raise UsageError(
            "--publish-despite-inspection needs a reason; the release notes record it",
            hint='e.g. --publish-despite-inspection "ages of the legacy cohort were never '
            'recorded"',
        )


def preflight(run: Run, *, suggest: bool = False) -> None:
    """Before any stage writes: the tables (when no conversion will rewrite them), the DANDI
    instance, dandiset and key, the dandiset's metadata, the bucket and the version asked for;
    and, when the release's files are already known, the release itself (`decide`). A refusal
    raises; dandiset metadata the archive would refuse stops the run ("metadata"). `suggest`:
    the plan's guess of the bump when none is given (see `decide`)."""
    settings, names = run.settings, set(run.selected)
    converts = StageName.CONVERT in names
    to_s3 = settings.s3_enabled and bool(
        names & {StageName.UPLOAD, StageName.MANIFEST, StageName.NOTES}
    )
    if converts:  # the sessions table, its ids (the DANDI path rule) and convert's outputs
        from publishkit.nwb.sessions import planned_sessions
        from publishkit.nwb.templates import find_template

        conversion = settings.conversion
        template = find_template(conversion.template, conversion.templates_dir)
        planned_sessions(settings, template.document)
    if to_s3 and not converts:
        from publishkit.workspace.inventory import collect

        run.files = collect(settings)  # checked before the bucket; staged from it, once
    if {StageName.UPLOAD, StageName.PUBLISH} & names and settings.dandi_enabled:
        _check_dandi(run)
        if run.result.stopped:
            return
    if not to_s3:
        return
    from publishkit.release.s3_staging import check_target

    run.target = check_target(settings=settings, version=run.request.version)
    if stages_s3(settings, run.selected) and not (
        converts or decides_while_inspecting(settings, run.selected)
    ):  # else once conversion wrote the files, or while they are inspected: hashed meanwhile
        stage(run)
    if StageName.MANIFEST not in names:
        return
    if converts:
        _check_converting(run, suggest)
    elif not decides_while_inspecting(settings, run.selected):
        decide(run, suggest=suggest)


def stages_s3(settings: Settings, selected: tuple[str, ...]) -> bool:
    """The run uploads to S3 or publishes a manifest: it stages the S3 release."""
    return settings.s3_enabled and bool({StageName.UPLOAD, StageName.MANIFEST} & set(selected))


def stage(run: Run) -> Staged:
    """The one point of a release's path that stages its S3 release (reads only: the files,
    their digests, the bucket as `check_target` found it, the draft manifest): once its files
    are known, so in the preflight, unless the run converts or inspects (then once conversion
    wrote them, or while the inspection's workers read them: `stage_once_files_are_known`; or
    in the preflight when the version must be settled before conversion and nothing is left to
    convert). Every later step reads `run.staged` as it is; the
    DANDI upload records its assets into the draft (`s3_staging.record_dandi_assets`) instead
    of staging again, and a file changed after it was hashed is refused by the upload."""
    from publishkit.release.s3_staging import stage_release

    if run.staged is not None:
        raise AssertionError("the S3 release is staged once per run")
    run.staged = stage_release(
        settings=run.settings,
        version=run.request.version,
        allow_empty=run.request.allow_empty,
        progress=run.progress,
        target=run.target,
        files=run.files,
    )
    return run.staged


def stage_once_files_are_known(run: Run) -> None:
    """The S3 release staged, unless it is already: a converting release's once conversion
    wrote its files (the plan's, once it found nothing left to convert), an inspecting one's
    while its workers inspect the files (the files hashed meanwhile, not before)."""
    if run.staged is None and stages_s3(run.settings, run.selected):
        stage(run)


def _check_dandi(run: Run) -> None:
    from publishkit.dandi.access import check_dandi_access

    settings = run.settings
    access = check_dandi_access(settings=settings, api_key=run.request.dandi_api_key)
    if settings.publishes:
        run.result.dandiset_metadata = check_dandiset_metadata(settings, access.info)
        if not run.result.dandiset_metadata.ok:
            run.stop(METADATA)


def check_dandiset_metadata(settings: Settings, info: dict[str, Any] | None) -> MetadataReport:
    """dandiset.yaml checked as the archive checks it at publish; `info`: the instance's
    /api/info/ (None: it was not asked)."""
    from publishkit.dandi.metadata import ServerInfo, check_metadata, metadata_path

    return check_metadata(
        path=metadata_path(settings),
        dandiset=settings.dandi.dandiset,
        server=ServerInfo.from_json(info) if info is not None else None,
        instance=settings.dandi.instance,
    )


def files_known(settings: Settings) -> bool:
    """A converting workspace's release files are known before its run: nothing is left to
    convert (its files table is written and up to date)."""
    from publishkit.nwb.convert import plan_conversion

    todo, _, _ = plan_conversion(settings=settings)
    return not todo and settings.conversion.files_table.is_file()


def _check_converting(run: Run, suggest: bool) -> None:
    """A converting release whose version depends on what it converts: no version given, or
    the latest one given (a re-run that must change nothing). With nothing left to convert,
    the release is settled now; else it is refused before conversion writes anything."""
    assert run.target is not None
    request, latest = run.request, run.target.published.latest
    again = latest is not None and request.version and Version.parse(request.version) == latest
    if not again and (request.version or request.bump):
        return
    if files_known(run.settings):  # nothing left to convert: settled now
        stage(run)
        decide(run, suggest=suggest)
        return
    if suggest and not again:
        return
    if again:
        raise VersionError(
            f"version {latest} is already published and rows are still to convert, which "
            "would change its files; a published manifest is never overwritten",
            hint=f"cut a newer version, e.g. --version {latest.bump('patch')}",  # type: ignore[union-attr]
        )
    raise UsageError(
        "no --version or --bump given; the rows still to convert change the release's files, "
        "so the changes suggest at least --bump minor (major if a published file is removed)",
        hint="pass --bump major|minor|patch or --version X.Y.Z",
    )


def decide(run: Run, *, suggest: bool = False, provisional: bool = False) -> Decision:
    """The release this run cuts, from its files as they are now: staged (reads only), compared
    with the latest release, its version resolved and checked. Once per run (a provisional
    decision is settled again). `suggest`: without --version or --bump, the bump the changes
    call for (the plan's guess). `provisional`: while the files are inspected, whose workers
    record their summaries: the version and what refuses it (which need no NWB summary), with
    the summaries recorded so far and none read here."""
    if run.decision is not None and not (run.decision.provisional and not provisional):
        return run.decision
    from publishkit.release.manifest_and_notes import compare_staged
    from publishkit.release.s3_staging import resolve_version

    staged = run.s3_release
    comparison, summaries, unreadable = compare_staged(  # the plan (suggest) builds no index
        run.settings, staged, read=not provisional, build_indexes=not suggest
    )
    request, version = run.request, None
    if StageName.MANIFEST in run.selected or request.version or request.bump:
        bump = request.bump
        if suggest and not (request.version or bump):
            bump = comparison.suggested_bump
        version = resolve_version(staged.target.published, comparison, request.version, bump)
        if version is not None and bump is not None:
            _check_bump(bump, comparison, request.allow_smaller_bump)
        if version is not None:
            _check_release_keys(run.settings, version)
    run.decision = Decision(version, comparison, summaries, unreadable, provisional)
    return run.decision


def _check_release_keys(settings: Settings, version: Version) -> None:
    """The keys this version's manifest and summaries get are clean ones (a long prefix and
    project can push them past S3's limit)."""
    from publishkit.errors import ConfigError
    from publishkit.formats.keys import key_problem
    from publishkit.formats.manifest import manifest_name
    from publishkit.formats.release_layout import MANIFESTS_FOLDER
    from publishkit.formats.summaries import SUMMARIES_FOLDER, summaries_name

    for key in (
        settings.s3.key(f"{MANIFESTS_FOLDER}/{manifest_name(settings.project, version)}"),
        settings.s3.key(f"{SUMMARIES_FOLDER}/{summaries_name(settings.project, str(version))}"),
    ):
        problem = key_problem(key)
        if problem:
            raise ConfigError(
                f"the release's key {key[:80]!r}... {problem}",
                hint="shorten s3.prefix or project in publishkit.yaml",
            )


def _check_bump(bump: Bump, comparison: Comparison, allowed: bool) -> None:
    """--bump smaller than the changes call for (patch for a deleted file) is refused unless
    the caller says it is meant: the version would tell consumers nothing breaks."""
    needed = comparison.suggested_bump
    if needed is None or allowed or BUMPS.index(bump) <= BUMPS.index(needed):
        return
    breaking = [c.path for c in comparison.changes if c.kind in ("deleted", "renamed")]
    why = f" ({', '.join(breaking[:3])} deleted or renamed)" if breaking else ""
    raise UsageError(
        f"--bump {bump} is smaller than the changes call for: --bump {needed}{why}",
        hint=f"pass --bump {needed}, or add --allow-smaller-bump if a {bump} release is meant",
    )
