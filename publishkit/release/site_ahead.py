"""The release site started while a release's uploads and manifest wait on the store: its
index drawn ahead, or what its pages take imported and compiled, in a thread of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from publishkit.background import in_background
from publishkit.workspace.settings import StageName

if TYPE_CHECKING:
    from publishkit.release.stages import Run


def start_site(run: Run) -> None:
    """A run that cuts a release and puts its site starts on the site while its uploads and
    manifest wait on the store, in a thread of its own: an S3-only release draws its index
    (`site.publishing.draft_index`: the site's history read, the charts and the page drawn;
    reads only) from a copy of its draft, which nothing after the upload changes but the
    version IDs the index does not show (the notes stage puts it only when the facts it was
    drawn with are the record's: `publish_site`); a release to DANDI too, whose DANDI version
    the manifest records later, imports and compiles what the pages take
    (`site.pages.warm`)."""
    settings, decision = run.settings, run.decision
    if not (settings.site and StageName.NOTES in run.selected):
        return
    if decision is None or decision.version is None or run.target is None:
        return
    if settings.dandi_enabled:
        in_background("publishkit-site-warm", _warm)
        return
    from publishkit.site.publishing import draft_index

    document: dict[str, Any] = dict(run.s3_release.draft.document)
    for group in ("metadata_files", "data_files"):  # entries copied: the upload pins them
        document[group] = {name: dict(entry) for name, entry in document[group].items()}
    document["manifest_version"] = version = str(decision.version)
    versions = {str(v) for v in run.target.published.versions} | {version}
    run.site_index = in_background(
        "publishkit-site-draft",
        draft_index,
        run.target.bucket,
        settings.s3.prefix,
        document,
        decision.comparison,
        versions,
    )


def _warm() -> None:
    from publishkit.site.pages import warm  # its modules imported in the thread too

    warm()
