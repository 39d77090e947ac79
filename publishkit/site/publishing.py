"""The site put in the bucket by each release, and read back from it.

`<prefix>/index.html` and the site's history (`releases/history.json`, what the index says of
each release, read back by the next release in one GET) are replaced by each release (a new
version of each key). A release's page, the pages of its file table and its record
(`releases/vX.Y.Z.json`) are create-only, like manifests: a key that exists is left as it is
(a re-run after a crash finds them), and the page is put last, so a page in the bucket means
its file pages and record are there too. A release whose page is new puts the history and the
index it drew ahead while its record and page go up.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
from msgspec.structs import replace

from publishkit.errors import ManifestError
from publishkit.formats.comparison import Comparison
from publishkit.formats.manifest import entry_relpath
from publishkit.formats.table_diff import parse_table
from publishkit.local_files import write_atomic
from publishkit.s3 import content_types
from publishkit.s3.bucket import ConditionFailed, S3Bucket
from publishkit.site import page_record, site_history
from publishkit.site.earlier_releases import (
    Earlier,
    earlier_releases,
    manifests_in,
    record_name,
    records_in,
)
from publishkit.site.history import (
    PAGES_FOLDER,
    History,
    ReleaseFacts,
    history,
    history_of,
    ordered,
    page_name,
    release_facts,
)
from publishkit.site.page_record import PageRecord
from publishkit.site.pages import release_files, release_page, render_index
from publishkit.site.site_history import HISTORY

log = logging.getLogger(__name__)
INDEX = "index.html"
Compare = Callable[[Mapping[str, Any] | None, Mapping[str, Any]], Comparison]


class SiteResult(msgspec.Struct, frozen=True):
    """What a release put of the site: its page's URL, the index's, and the keys written."""

    page_url: str
    index_url: str
    written: tuple[str, ...]


def publish_site(
    *,
    bucket: S3Bucket,
    prefix: str,
    url_of: Callable[[str], str],
    document: Mapping[str, Any],
    comparison: Callable[[], Comparison],
    record: PageRecord,
    new: bool = False,
    drafted: Future[DraftedIndex] | None = None,
    versions: Collection[str] | None = None,
    tables: Mapping[str, Path] | None = None,
) -> SiteResult:
    """Put release `document`'s page (unless the bucket has it) and the index of every release
    the bucket's manifests list (unless nothing was put and the index lists this release).
    `comparison` says what changed since the release before; `url_of` gives a key's public
    URL; `new`: the caller knows the page is not there yet (its notes were just written), so
    the bucket is not asked; `drafted`: the index `draft_index` is drawing meanwhile;
    `versions`, `tables`: see `draft_index` and `_shapes`."""
    version = str(document["manifest_version"])
    written: list[str] = []
    page_key = f"{prefix}/{PAGES_FOLDER}/{page_name(version)}"
    with ThreadPoolExecutor(1, thread_name_prefix="publishkit-site") as pool:
        mine: ReleaseFacts | None = None  # this release's facts, as the record it put says
        ahead: Future[list[str] | None] | None = None  # the index put while the page is
        if new or bucket.head(page_key) is None:
            changes = comparison()
            if drafted is None:  # the index drawn while this release's page is put
                drafted = pool.submit(draft_index, bucket, prefix, document, changes, versions)
            record = replace(
                record,
                shapes=_shapes(bucket, prefix, document, tables or {}),
                facts=release_facts(document, changes.changes),
            )
            pages = release_files(
                release_page(
                    document,
                    changes,
                    remarks=record.remarks,
                    inspection=record.inspection,
                    shapes=record.shapes,
                ),
            )
            main = f"{PAGES_FOLDER}/{page_name(version)}"
            files: dict[str, bytes] = {record_name(version): page_record.dump(record)}
            files.update((path, text.encode()) for path, text in pages.items() if path != main)
            files[main] = pages[main].encode()  # last
            if new and drafted is not None and record.facts is not None:
                ahead = pool.submit(_put_drafted_index, bucket, prefix, drafted, record.facts)
            for path, data in files.items():
                if _put_new(bucket, f"{prefix}/{path}", data):
                    written.append(path)
            if record_name(version) in written:  # else the bucket's record is the one
                mine = record.facts
        index_key = f"{prefix}/{INDEX}"
        put_ahead = ahead.result() if ahead is not None else None
        if put_ahead is not None and mine is not None:
            written += put_ahead
        elif written or not _lists(bucket.get_bytes(index_key), version):
            draft = drafted.result() if drafted else None
            if draft is not None and mine is not None and draft.facts == mine:
                earlier, drawn, index = draft.earlier, draft.history, draft.html
            else:
                if draft is not None:
                    earlier = draft.earlier
                else:
                    earlier = earlier_releases(bucket, prefix, document, versions)
                drawn = _history(document, earlier, mine)
                index = render_index(drawn)
            if _keep_history(earlier, drawn):  # before the index: a re-run finds it unlisted
                written.append(HISTORY)
            bucket.put_bytes(
                index_key, index.encode(), content_type=content_types.HTML, create_only=False
            )
            written.append(INDEX)
            log.info("published the release site s3://%s/%s", bucket.name, index_key)
    return SiteResult(url_of(page_key), url_of(index_key), tuple(written))


def _put_drafted_index(
    bucket: S3Bucket, prefix: str, drafted: Future[DraftedIndex], facts: ReleaseFacts
) -> list[str] | None:
    """The site's history and the index as drawn ahead, put while the release's record and
    page go up, when they were drawn with `facts` (the record this release puts); None, and
    nothing put, otherwise. Only for a page known to be new (its notes were just written, so
    no earlier run put its record): the record put is this one, and the index drawn ahead is
    the one `publish_site` would put after it. Put before the page, the index may list a page
    that a crash then leaves missing: the next run finds the page absent, puts it, and puts
    the index again (a key replaced, as each release replaces it)."""
    draft = drafted.result()
    if draft.facts != facts:
        return None
    written = [HISTORY] if _keep_history(draft.earlier, draft.history) else []
    key = f"{prefix}/{INDEX}"
    bucket.put_bytes(key, draft.html.encode(), content_type=content_types.HTML, create_only=False)
    log.info("published the release site s3://%s/%s", bucket.name, key)
    return [*written, INDEX]


class DraftedIndex(msgspec.Struct, frozen=True):
    """The index as drawn ahead, for release `facts`: used when the record put says the same."""

    facts: ReleaseFacts
    earlier: Earlier
    history: History
    html: str


def draft_index(
    bucket: S3Bucket,
    prefix: str,
    document: Mapping[str, Any],
    comparison: Comparison,
    versions: Collection[str] | None = None,
) -> DraftedIndex:
    """The index with release `document` in it (`comparison`: since the release before),
    drawn from the site's history of the releases before: for a thread to draw while the
    release's notes and page are put (reads only). `versions`: the manifests' versions in the
    bucket (`document`'s too), as the caller listed them in this run; else listed here."""
    earlier = earlier_releases(bucket, prefix, document, versions)
    facts = release_facts(document, comparison.changes)
    drawn = _history(document, earlier, facts)
    return DraftedIndex(facts, earlier, drawn, render_index(drawn))


def _history(document: Mapping[str, Any], earlier: Earlier, mine: ReleaseFacts | None) -> History:
    """Every release of `document`'s project from what the site's history says of it (`mine`:
    this release's, just put; else from the document or the record in the bucket), else from
    the manifests (when one could not be read)."""
    project, version = str(document["project_name"]), str(document["manifest_version"])
    facts = dict(earlier.facts)
    if mine is not None:
        facts[version] = mine
    elif version not in facts:
        record = records_in(earlier.bucket, earlier.prefix, [version]).get(version)
        if record is not None and record.facts is not None:
            facts[version] = record.facts
    if version in facts and set(earlier.versions) <= facts.keys():
        return history_of(project, list(facts.values()))
    documents = {
        str(d["manifest_version"]): d
        for d in manifests_in(earlier.bucket, earlier.prefix, document)
    }
    documents[version] = document
    return history(list(documents.values()))


def _keep_history(earlier: Earlier, drawn: History) -> bool:
    """Put the site's history document of `drawn` unless the bucket has it already."""
    data = site_history.dump(drawn.project, drawn.releases)
    if data == earlier.stored:
        return False
    key = f"{earlier.prefix}/{HISTORY}"
    earlier.bucket.put_bytes(key, data, content_type=content_types.JSON, create_only=False)
    return True


def _lists(index: bytes | None, version: str) -> bool:
    """The index links to the page of `version` (a re-run that changed nothing writes none)."""
    return index is not None and f'href="{PAGES_FOLDER}/{page_name(version)}"'.encode() in index


def write_site(
    *,
    out: Path,
    documents: list[Mapping[str, Any]],
    records: Mapping[str, PageRecord],
    compare: Compare,
) -> list[Path]:
    """The whole site in folder `out`: the index, and each release's page compared with the
    release before it (`records`: what the bucket recorded of each page)."""
    written = []
    previous: Mapping[str, Any] | None = None
    for document in ordered(documents):
        version = str(document["manifest_version"])
        record = records.get(version) or PageRecord(str(document["project_name"]), version)
        page = release_page(
            document,
            compare(previous, document),
            remarks=record.remarks,
            inspection=record.inspection,
            shapes=record.shapes,
        )
        for path, text in release_files(page).items():
            write_atomic(out / path, text)
            written.append(out / path)
        previous = document
    write_atomic(out / INDEX, render_index(history(documents)))
    return [out / INDEX, *written]


def _put_new(bucket: S3Bucket, key: str, data: bytes) -> bool:
    """Put `data` at a key that does not exist yet; False when it does with other content
    (left as it is: a page is never replaced)."""
    try:
        bucket.put_bytes(key, data, content_type=content_types.for_key(key), create_only=True)
    except ConditionFailed:
        return False
    return True


def _shapes(
    bucket: S3Bucket, prefix: str, document: Mapping[str, Any], tables: Mapping[str, Path]
) -> dict[str, tuple[int, int]]:
    """Each metadata table's rows and columns, read at the version the manifest pins: from
    the local copy (`tables`: name -> path) when it has the content the manifest pins (the
    release that just uploaded it), else from the bucket."""
    found = {}
    for name, entry in document["metadata_files"].items():
        key = f"{prefix}/{entry_relpath(dict(entry))}"
        data = _local_copy(tables.get(name), str(entry["file_hash"]))
        if data is None:
            data = bucket.get_bytes(key, entry["version_id"])
        if data is None:
            continue
        try:
            header, rows = parse_table(data, key)
        except ManifestError:  # a table the notes cannot read is shown without its size
            continue
        found[name] = (len(rows), len(header))
    return found


def _local_copy(path: Path | None, blake2b: str) -> bytes | None:
    """The bytes at `path` when they are the content a manifest pins by its `blake2b`."""
    try:
        data = path.read_bytes() if path is not None else None
    except OSError:
        return None
    return data if data is not None and hashlib.blake2b(data).hexdigest() == blake2b else None
