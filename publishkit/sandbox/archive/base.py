"""What every route of the local archive shares: errors, authentication, lookups, pagination,
and the JSON documents of dandisets, versions and assets, as the real archive answers them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from secrets import compare_digest
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from publishkit.sandbox.archive.blobs import BlobStorage
from publishkit.sandbox.archive.rows import DRAFT, AssetRow, VersionRow, format_dandiset_id
from publishkit.sandbox.archive.store import DandiStore

ETAG = "dandi:dandi-etag"
SHA256 = "dandi:sha2-256"
CLI_MINIMAL_VERSION = "0.60.0"
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
# Fields the archive computes itself and strips from metadata that clients send.
ASSET_COMPUTED = {"id", "path", "identifier", "contentUrl", "contentSize", "digest"}
ASSET_COMPUTED |= {"datePublished", "publishedBy", "@context"}
VERSION_COMPUTED = {"name", "identifier", "version", "id", "url", "assetsSummary", "citation"}
VERSION_COMPUTED |= {"doi", "datePublished", "publishedBy", "manifestLocation", "dateCreated"}


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}


def not_found() -> ApiError:
    return ApiError(404, {"detail": "Not found."})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def valid_asset_path(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and all(part not in ("", ".", "..") for part in parts) and "\\" not in path


def xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def contact_person(metadata: dict[str, Any]) -> str:
    for contributor in metadata.get("contributor") or []:
        roles: Iterable[str] = contributor.get("roleName") or []
        if contributor.get("name") and "dcite:ContactPerson" in roles:
            return str(contributor["name"])
    return ""


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
        draft = self.store.get_version(number, DRAFT)
        assert draft is not None
        base = {
            "identifier": dandiset.identifier,
            "created": dandiset.created,
            "modified": dandiset.modified,
            "contact_person": contact_person(draft.metadata),
            "embargo_status": dandiset.embargo_status,
        }
        version = self.version_json(draft)
        if detail:
            version["dandiset"] = dict(base)
        return {**base, "most_recent_published_version": None, "draft_version": version}

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
        }

    def version_metadata(self, request: Request, version: VersionRow) -> dict[str, Any]:
        """Version metadata plus the fields the archive computes (Version._populate_metadata)."""
        from dandischema.consts import DANDI_SCHEMA_VERSION

        did = format_dandiset_id(version.dandiset)
        count, size = self.store.version_stats(version.dandiset, version.version)
        api = self.api_url(request)
        metadata = {
            "schemaKey": "Dandiset",
            **version.metadata,
            "name": version.name,
            "identifier": f"DANDI:{did}",
            "id": f"DANDI:{did}/{version.version}",
            "version": version.version,
            "url": f"{api}/dandisets/{did}/versions/{version.version}/",
            "repository": request.host_url.rstrip("/"),
            "dateCreated": version.created,  # the draft is made with its dandiset
            "citation": f"{version.name} ({version.version}). DANDI:{did}/{version.version}",
            "assetsSummary": {
                "schemaKey": "AssetsSummary",
                "numberOfBytes": size,
                "numberOfFiles": count,
            },
            "manifestLocation": [f"{api}/dandisets/{did}/versions/{version.version}/assets/"],
        }
        metadata.setdefault("schemaVersion", DANDI_SCHEMA_VERSION)
        return metadata

    def asset_metadata(self, request: Request, asset: AssetRow) -> dict[str, Any]:
        """Asset._populate_metadata: stored metadata plus identity, URLs, size and digests."""
        digest = {ETAG: asset.blob.etag}
        if asset.blob.sha256:
            digest[SHA256] = asset.blob.sha256
        metadata = {
            **asset.metadata,
            "id": f"dandiasset:{asset.asset_id}",
            "path": asset.path,
            "identifier": asset.asset_id,
            "contentUrl": [
                f"{self.api_url(request)}/assets/{asset.asset_id}/download/",
                self.storage.object_url(asset.blob.object_key),
            ],
            "contentSize": asset.blob.size,
            "digest": digest,
        }
        metadata["@context"] = (
            "https://raw.githubusercontent.com/dandi/schema/master/releases/"
            f"{metadata.get('schemaVersion')}/context.json"
        )
        return metadata

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
