"""What every route of the local archive shares: errors, authentication, lookups, pagination,
and the JSON documents of dandisets, versions and assets, as the real archive answers them."""

from __future__ import annotations

import json
import re
from secrets import compare_digest
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from publishkit.formats.dandi_paths import archive_refuses
from publishkit.sandbox.archive import documents
from publishkit.sandbox.archive.blobs import BlobStorage
from publishkit.sandbox.archive.documents import Site, contact_person
from publishkit.sandbox.archive.rows import DRAFT, AssetRow, VersionRow
from publishkit.sandbox.archive.store import DandiStore

CLI_MINIMAL_VERSION = "0.60.0"
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}


def not_found() -> ApiError:
    return ApiError(404, {"detail": "Not found."})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def asset_path_problem(path: str) -> str | None:
    """Why the archive refuses an asset path (validate_asset_path), or None."""
    if path.startswith("/"):
        return "Path must not begin with /"
    if archive_refuses(path):  # the archive's rule, as formats/dandi_paths.py writes it
        return "Path improperly formatted"
    return None


def xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ArchiveBase:
    """The state and helpers the route groups share."""

    store: DandiStore
    storage: BlobStorage

    def authenticate(self, request: Request, *, required: bool) -> None:
        """DRF's TokenAuthentication: a bad token is 401 even where anonymous access is allowed."""
        header = request.headers.get("Authorization", "")
        if header:
            words = header.split()
            known = self.store.api_key()
            if (
                len(words) != 2
                or words[0].lower() != "token"
                or not compare_digest(words[1], known)
            ):
                raise ApiError(401, {"detail": "Invalid token."}, {"WWW-Authenticate": "Token"})
        elif required:
            body = {"detail": "Authentication credentials were not provided."}
            raise ApiError(401, body, {"WWW-Authenticate": "Token"})

    @staticmethod
    def api_url(request: Request) -> str:
        return f"{request.host_url}api"

    @staticmethod
    def body(request: Request) -> dict[str, Any]:
        data = request.get_json(force=True, silent=True) if request.data else {}
        if not isinstance(data, dict):
            raise ApiError(400, {"detail": "JSON parse error."})
        return data

    def version_of(self, did: str, version: str) -> VersionRow:
        if not re.fullmatch(r"\d{6}", did):
            raise not_found()
        row = self.store.get_version(int(did), version)
        if row is None:
            raise not_found()
        return row

    def draft_of(self, did: str, version: str) -> VersionRow:
        row = self.version_of(did, version)
        if row.version != DRAFT:
            raise ApiError(405, {"detail": "Only draft versions can be modified."})
        return row

    def asset_of(self, asset_id: str, version: VersionRow | None = None) -> AssetRow:
        asset = self.store.get_asset(asset_id)
        if asset is None or (
            version is not None
            and not self.store.in_version(version.dandiset, version.version, asset_id)
        ):
            raise not_found()
        return asset

    def paginate(self, request: Request, items: list[Any]) -> Response:
        """DRF's PageNumberPagination, whose `next` dandi-cli recognises as page 2 of the URL."""
        try:
            page = max(1, int(request.args.get("page", 1)))
            size = min(MAX_PAGE_SIZE, max(1, int(request.args.get("page_size", PAGE_SIZE))))
        except ValueError as e:
            raise ApiError(404, {"detail": "Invalid page."}) from e
        if page > 1 and (page - 1) * size >= len(items):
            raise ApiError(404, {"detail": "Invalid page."})

        def link(number: int) -> str | None:
            if number < 1 or (number - 1) * size >= len(items):
                return None
            args = MultiDict(request.args)
            args.setlist("page", [str(number)])
            if number == 1:
                args.poplist("page")
            query = urlencode(list(args.items(multi=True)))
            return request.base_url + (f"?{query}" if query else "")

        body = {
            "count": len(items),
            "next": link(page + 1),
            "previous": link(page - 1) if page > 1 else None,
            "results": items[(page - 1) * size : page * size],
        }
        return json_response(body)

    def dandiset_json(self, number: int, *, detail: bool) -> dict[str, Any]:
        dandiset = self.store.get_dandiset(number)
        if dandiset is None:
            raise not_found()
        versions = self.store.list_versions(number)
        draft = next(v for v in versions if v.version == DRAFT)
        published = [v for v in versions if v.version != DRAFT]
        latest = published[-1] if published else None
        base = {
            "identifier": dandiset.identifier,
            "created": dandiset.created,
            "modified": dandiset.modified,
            "contact_person": contact_person((latest or draft).metadata),
            "embargo_status": dandiset.embargo_status,
        }
        shown = [self.version_json(v) if v else None for v in (latest, draft)]
        if detail:
            for version in shown:
                if version is not None:
                    version["dandiset"] = dict(base)
        return {**base, "most_recent_published_version": shown[0], "draft_version": shown[1]}

    def version_json(self, version: VersionRow) -> dict[str, Any]:
        count, size = self.store.version_stats(version.dandiset, version.version)
        return {
            "version": version.version,
            "name": version.name,
            "asset_count": count,
            "size": size,
            "status": version.status,
            "created": version.created,
            "modified": version.modified,
            # a published version's, from its metadata; a draft has none (VersionSerializer)
            "release_notes": version.metadata.get("releaseNotes", ""),
        }

    @staticmethod
    def site(request: Request) -> Site:
        """The archive's API and web addresses, as this request reached them."""
        return Site(api=f"{request.host_url}api", web=request.host_url.rstrip("/"))

    def version_metadata(self, request: Request, version: VersionRow) -> dict[str, Any]:
        """Version metadata plus the fields the archive computes (Version._populate_metadata)."""
        dandiset = self.store.get_dandiset(version.dandiset)
        assert dandiset is not None
        stats = self.store.version_stats(version.dandiset, version.version)
        return documents.version_metadata(self.site(request), version, dandiset.created, stats)

    def asset_metadata(self, request: Request, asset: AssetRow) -> dict[str, Any]:
        """Asset.full_metadata: stored metadata plus identity, URLs, size and digests."""
        url = self.storage.object_url(asset.blob.object_key)
        return documents.asset_metadata(self.site(request), asset, url)

    def asset_json(
        self, request: Request, asset: AssetRow, *, metadata: bool = True
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "asset_id": asset.asset_id,
            "blob": asset.blob.blob_id,
            "zarr": None,
            "path": asset.path,
            "size": asset.blob.size,
            "created": asset.created,
            "modified": asset.modified,
        }
        if metadata:
            body["metadata"] = self.asset_metadata(request, asset)
        return body
