"""Assets of a version: list, create, replace, delete, info, download."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from werkzeug.wrappers import Request, Response

from publishkit.formats.dandi_computed import ASSET_STRIPPED
from publishkit.sandbox.archive.base import (
    ApiError,
    ArchiveBase,
    asset_path_problem,
    json_response,
    not_found,
)
from publishkit.sandbox.archive.rows import DRAFT, VersionRow


class AssetRoutes(ArchiveBase):
    """Assets of a version: list, create, replace, delete, info, download."""

    def do_assets(self, request: Request, did: str, version: str) -> Response:
        if request.method == "POST":
            row = self.draft_of(did, version)
            blob_id, metadata, path = self.asset_request(request)
            self.check_path_free(row, path)
            asset = self.store.add_asset(row.dandiset, row.version, path, blob_id, metadata)
            return json_response(self.asset_json(request, asset))
        row = self.version_of(did, version)
        assets = self.store.version_assets(row.dandiset, row.version)
        prefix = request.args.get("path")
        if prefix is not None:
            assets = [a for a in assets if a.path.lower().startswith(prefix.lower())]
        pattern = request.args.get("glob")
        if pattern is not None:
            regex = re.compile(re.escape(pattern).replace(r"\*", ".*"), re.IGNORECASE)
            assets = [a for a in assets if regex.fullmatch(a.path)]
        order = request.args.get("order") or "created"
        field = order.lstrip("-")
        if field not in ("created", "modified", "path"):
            raise ApiError(400, {"order": [f"Select a valid choice. {order} is not one of them."]})
        assets.sort(key=lambda a: getattr(a, field), reverse=order.startswith("-"))
        with_metadata = request.args.get("metadata", "").lower() in ("true", "1")
        return self.paginate(
            request, [self.asset_json(request, a, metadata=with_metadata) for a in assets]
        )

    def do_asset(
        self, request: Request, asset_id: str, did: str | None = None, version: str | None = None
    ) -> Response:
        if request.method in ("GET", "HEAD"):
            row = None if did is None else self.version_of(did, version or DRAFT)
            return json_response(self.asset_metadata(request, self.asset_of(asset_id, row)))
        row = self.draft_of(did or "", version or DRAFT)
        old = self.asset_of(asset_id, row)
        if request.method == "DELETE":
            self.store.remove_asset(row.dandiset, row.version, asset_id)
            return Response(status=204)
        blob_id, metadata, path = self.asset_request(request)
        if blob_id == old.blob.blob_id and metadata == old.metadata and path == old.path:
            return json_response(self.asset_json(request, old))  # unchanged: the same asset
        self.check_path_free(row, path, ignore=asset_id)
        new = self.store.add_asset(
            row.dandiset, row.version, path, blob_id, metadata, replacing=asset_id
        )
        return json_response(self.asset_json(request, new))

    def do_asset_validation(
        self, request: Request, asset_id: str, did: str, version: str
    ) -> Response:
        asset = self.asset_of(asset_id, self.version_of(did, version))
        return json_response({"status": asset.status, "validation_errors": asset.validation_errors})

    def do_asset_info(
        self, request: Request, asset_id: str, did: str | None = None, version: str | None = None
    ) -> Response:
        row = None if did is None else self.version_of(did, version or DRAFT)
        return json_response(self.asset_json(request, self.asset_of(asset_id, row)))

    def do_download(
        self, request: Request, asset_id: str, did: str | None = None, version: str | None = None
    ) -> Response:
        row = None if did is None else self.version_of(did, version or DRAFT)
        asset = self.asset_of(asset_id, row)
        name = posixpath.basename(asset.path).replace('"', "")
        url = self.storage.presign(
            "get_object",
            Key=asset.blob.object_key,
            ResponseContentDisposition=f'attachment; filename="{name}"',
        )
        return Response(status=302, headers={"Location": url})

    def asset_request(self, request: Request) -> tuple[str, dict[str, Any], str]:
        """AssetRequestSerializer: a known blob_id and metadata with a valid path."""
        from dandischema.consts import DANDI_SCHEMA_VERSION

        data = self.body(request)
        metadata, blob_id = data.get("metadata"), data.get("blob_id")
        if "zarr_id" in data:
            raise ApiError(400, {"zarr_id": ["Zarr assets are not supported by this server."]})
        if not isinstance(blob_id, str) or not isinstance(metadata, dict):
            raise ApiError(
                400, {"blob_id": ["Exactly one of blob_id or zarr_id must be specified."]}
            )
        path = metadata.get("path")
        if not isinstance(path, str) or not path:
            raise ApiError(400, {"metadata": ["No path specified in metadata."]})
        problem = asset_path_problem(path)
        if problem:  # a Django ValidationError in the serializer: DRF's non_field_errors
            raise ApiError(400, {"non_field_errors": [problem]})
        if self.store.get_blob(blob_id) is None:
            raise not_found()
        kept = {k: v for k, v in metadata.items() if k not in ASSET_STRIPPED}
        kept.setdefault("schemaVersion", DANDI_SCHEMA_VERSION)
        return blob_id, kept, path

    def check_path_free(self, version: VersionRow, path: str, ignore: str | None = None) -> None:
        """409 if an asset has this path, or is a file where it needs a folder or vice versa."""
        others = [
            a.path
            for a in self.store.version_assets(version.dandiset, version.version)
            if a.asset_id != ignore
        ]
        if path in others:
            raise ApiError(409, "An asset with that path already exists")
        conflicts = [p for p in others if path.startswith(p + "/") or p.startswith(path + "/")]
        if conflicts:
            message = f'Path of new asset "{path}" conflicts with existing assets: {conflicts}'
            raise ApiError(409, message)
