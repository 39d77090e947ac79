"""The release site read back from the bucket: `publishkit site --out DIR` (every page, for a
preview) and `publishkit notes OLD NEW --format html` (one release's page, as its release put
it: the notes' remarks, inspection summary and table sizes come from the page's record)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from publishkit.errors import ManifestError, StorageError, StoreUnavailable, UsageError
from publishkit.formats.comparison import Comparison, compare_manifests
from publishkit.formats.manifest import manifest_name
from publishkit.formats.release_layout import MANIFESTS_FOLDER
from publishkit.release.published_readback import Place, compared_in_bucket, place_of
from publishkit.s3.bucket import S3Bucket
from publishkit.s3.pinned import BucketPool, ReadSettings
from publishkit.site.earlier_releases import manifests_in, records_in
from publishkit.site.page_record import PageRecord
from publishkit.site.pages import release_files, release_page
from publishkit.site.publishing import write_site
from publishkit.workspace.config import Settings


def release_page_html(
    *,
    comparison: Comparison,
    new: Mapping[str, Any],
    read: ReadSettings | None,
) -> str:
    """The page of release `new` (`comparison`: what changed since OLD), with what its record
    in the bucket says when `read` reaches it (None: the manifests alone)."""
    record = None
    if read is not None and (new["metadata_files"] or new["data_files"]):
        version = str(new["manifest_version"])
        try:
            place = place_of(new, read, BucketPool(read))
            record = records_in(place.bucket, place.prefix, [version]).get(version)
        except StoreUnavailable:
            raise  # an outage is one, here too
        except (ManifestError, StorageError):  # not a publishkit release, or not readable:
            record = None  # the page from the manifests alone, as --files-only gives it
    page = release_page(
        new,
        comparison,
        remarks=record.remarks if record else (),
        inspection=record.inspection if record else None,
        shapes=record.shapes if record else None,
    )
    return release_files(page)[f"releases/v{new['manifest_version']}.html"]


def write_site_preview(*, settings: Settings, out: Path) -> list[Path]:
    """Every page of the workspace's release site, from the bucket's manifests, into `out`."""
    s3 = settings.s3
    bucket = S3Bucket.connect(s3.bucket, s3.region, s3.endpoint_url, write=False)
    documents = manifests_in(bucket, s3.prefix, {"project_name": settings.project})
    if not documents:
        raise UsageError(
            f"s3://{bucket.name}/{s3.key(MANIFESTS_FOLDER + '/')}: no release of "
            f"{settings.project} is published yet, so there is no site to write",
            hint="publish a release first: `publishkit release --version X.Y.Z`",
        )
    versions = [str(d["manifest_version"]) for d in documents]
    place = Place(bucket, s3.prefix)

    def compare(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Comparison:
        project = str(new["project_name"])
        old_name = manifest_name(project, old["manifest_version"]) if old else None
        comparison = compare_manifests(
            old, new, old_name, manifest_name(project, new["manifest_version"])
        )
        if old is None or not any(c.kind == "changed" for c in comparison.changes):
            return comparison
        return compared_in_bucket(comparison, old, new, place, place)

    records: dict[str, PageRecord] = records_in(bucket, s3.prefix, versions)
    return write_site(out=out, documents=documents, records=records, compare=compare)
