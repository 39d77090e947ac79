"""A small local DANDI archive: the part of the REST API that dandi-cli's upload, ls, download use.

Blobs live in an S3 bucket (the moto sandbox), uploaded by the client itself with presigned
multipart URLs; dandisets, versions, assets and pending uploads live in SQLite
(`publishkit.sandbox.store`). Answers follow the real archive (dandi/dandi-archive): the same paths,
JSON fields, status codes and pagination (``count``, ``next``, ``previous``, ``results``).

Point dandi-cli at it with ``-i <api url>`` (or ``DANDI_INSTANCE=<api url>``); dandi-cli names
the instance after the API URL's ``host:port`` and reads its key from ``<HOST:PORT>_API_KEY``
(`DandiSandbox.api_key_env_var`), not from ``DANDI_API_KEY``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from secrets import compare_digest
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
from botocore.config import Config
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from publishkit.sandbox.s3 import SANDBOX_KEY, serve_on_loopback
from publishkit.sandbox.store import DRAFT, AssetRow, DandiStore, VersionRow, format_dandiset_id

logger = logging.getLogger(__name__)

ETAG = "dandi:dandi-etag"
SHA256 = "dandi:sha2-256"
CLI_MINIMAL_VERSION = "0.60.0"
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
PRESIGN_SECONDS = 7 * 24 * 3600
# Fields the archive computes itself and strips from metadata that clients send.
ASSET_COMPUTED = {"id", "path", "identifier", "contentUrl", "contentSize", "digest"}
ASSET_COMPUTED |= {"datePublished", "publishedBy", "@context"}
VERSION_COMPUTED = {"name", "identifier", "version", "id", "url", "assetsSummary", "citation"}
VERSION_COMPUTED |= {"doi", "datePublished", "publishedBy", "manifestLocation", "dateCreated"}


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(body)
        self.status, self.body, self.headers = status, body, headers or {}


def _not_found() -> ApiError:
    return ApiError(404, {"detail": "Not found."})


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def _dandi_etag_parts(size: int) -> list[tuple[int, int]]:
    """(part number, size) per part, as dandi-cli's DandiETag splits a file of `size` bytes."""
    from dandischema.digests.dandietag import PartGenerator

    return [(part.number, part.size) for part in PartGenerator.for_file_size(size)]


def valid_asset_path(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and all(part not in ("", ".", "..") for part in parts) and "\\" not in path


class BlobStorage:
    """The bucket holding blobs, reached with the sandbox's credentials; URLs are presigned."""

    def __init__(self, endpoint: str, bucket: str, region: str) -> None:
        self.endpoint, self.bucket = endpoint.rstrip("/"), bucket
        self.client: Any = boto3.session.Session(
            aws_access_key_id=SANDBOX_KEY, aws_secret_access_key=SANDBOX_KEY
        ).client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(region_name=region, s3={"addressing_style": "path"}),
        )

    def presign(self, operation: str, **params: Any) -> str:
        return str(
            self.client.generate_presigned_url(
                operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=PRESIGN_SECONDS
            )
        )

    def object_url(self, key: str) -> str:
        return f"{self.endpoint}/{self.bucket}/{key}"

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except self.client.exceptions.ClientError:
            return None

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(1 << 20), b""):
            digest.update(chunk)
        return digest.hexdigest()


class DandiApp:
    """The WSGI application (werkzeug); one user, who owns every dandiset."""

    def __init__(self, store: DandiStore, storage: BlobStorage) -> None:
        self.store, self.storage = store, storage
        d, v, a = "/api/dandisets/<did>", "/versions/<version>", "/assets/<asset_id>"
        routes: list[tuple[str, str, list[str]]] = [
            ("/server-info", "info", ["GET"]),
            ("/api/info/", "info", ["GET"]),
            ("/api/auth/token/", "auth_token", ["GET"]),
            ("/api/dandisets/", "dandisets", ["GET", "POST"]),
            (f"{d}/", "dandiset", ["GET"]),
            (f"{d}/versions/", "versions", ["GET"]),
            (f"{d}{v}/", "version", ["GET", "PUT"]),
            (f"{d}{v}/info/", "version_info", ["GET"]),
            (f"{d}{v}/assets/", "assets", ["GET", "POST"]),
            (f"{d}{v}{a}/", "asset", ["GET", "PUT", "DELETE"]),
            (f"{d}{v}{a}/info/", "asset_info", ["GET"]),
            (f"{d}{v}{a}/download/", "download", ["GET"]),
            (f"/api{a}/", "asset", ["GET"]),
            (f"/api{a}/info/", "asset_info", ["GET"]),
            (f"/api{a}/download/", "download", ["GET"]),
            ("/api/uploads/initialize/", "upload_initialize", ["POST"]),
            ("/api/uploads/<upload_id>/complete/", "upload_complete", ["POST"]),
            ("/api/uploads/<upload_id>/validate/", "upload_validate", ["POST"]),
            ("/api/blobs/digest/", "blob_digest", ["POST"]),
        ]
        self.url_map = Map(
            [Rule(path, endpoint=name, methods=methods) for path, name, methods in routes],
            strict_slashes=False,  # dandi-cli asks for /auth/token without the slash
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
            writes = request.method not in ("GET", "HEAD") and endpoint != "blob_digest"
            self.authenticate(request, required=writes)
            handler: Callable[..., Response] = getattr(self, f"do_{endpoint}")
            return handler(request, **args)
        except ApiError as e:
            return _json(e.body, e.status, e.headers)
        except NotFound:
            return _json({"detail": "Not found."}, 404)
        except MethodNotAllowed as e:
            allow = {"Allow": ", ".join(e.valid_methods or [])}
            return _json({"detail": f'Method "{request.method}" not allowed.'}, 405, allow)
        except HTTPException as e:
            return e.get_response(request.environ)
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return _json({"detail": "Server error."}, 500)

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

    # -- helpers --------------------------------------------------------------------------

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
            raise _not_found()
        row = self.store.get_version(int(did), version)
        if row is None:
            raise _not_found()
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
            raise _not_found()
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
        return _json(body)

    def dandiset_json(self, number: int, *, detail: bool) -> dict[str, Any]:
        dandiset = self.store.get_dandiset(number)
        if dandiset is None:
            raise _not_found()
        draft = self.store.get_version(number, DRAFT)
        assert draft is not None
        base = {
            "identifier": dandiset.identifier,
            "created": dandiset.created,
            "modified": dandiset.modified,
            "contact_person": _contact_person(draft.metadata),
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

    # -- server, auth, dandisets, versions ------------------------------------------------

    def do_info(self, request: Request) -> Response:
        from dandischema.consts import DANDI_SCHEMA_VERSION

        from publishkit import __version__

        return _json(
            {
                "schema_version": DANDI_SCHEMA_VERSION,
                "schema_url": "https://raw.githubusercontent.com/dandi/schema/master/releases/"
                f"{DANDI_SCHEMA_VERSION}/dandiset.json",
                "version": f"publishkit-{__version__}",
                "cli-minimal-version": CLI_MINIMAL_VERSION,
                "cli-bad-versions": [],
                "services": {"api": {"url": self.api_url(request)}, "webui": None},
            }
        )

    def do_auth_token(self, request: Request) -> Response:
        self.authenticate(request, required=True)
        return _json(self.store.api_key())

    def do_dandisets(self, request: Request) -> Response:
        if request.method == "POST":
            data = self.body(request)
            name, metadata = data.get("name"), data.get("metadata", {})
            if not isinstance(name, str) or not name or not isinstance(metadata, dict):
                raise ApiError(400, {"name": ["This field is required."]})
            metadata = {k: v for k, v in metadata.items() if k not in VERSION_COMPUTED}
            created = self.store.create_dandiset(name, metadata)
            return _json(self.dandiset_json(created.number, detail=True))
        rows = self.store.list_dandisets()
        return self.paginate(request, [self.dandiset_json(r.number, detail=False) for r in rows])

    def do_dandiset(self, request: Request, did: str) -> Response:
        return _json(self.dandiset_json(self.version_of(did, DRAFT).dandiset, detail=True))

    def do_versions(self, request: Request, did: str) -> Response:
        number = self.version_of(did, DRAFT).dandiset
        return self.paginate(
            request, [self.version_json(v) for v in self.store.list_versions(number)]
        )

    def do_version(self, request: Request, did: str, version: str) -> Response:
        if request.method == "PUT":
            row = self.draft_of(did, version)
            data = self.body(request)
            name, metadata = data.get("name"), data.get("metadata")
            if not isinstance(name, str) or not isinstance(metadata, dict):
                raise ApiError(400, {"metadata": ["This field is required."]})
            metadata = {k: v for k, v in metadata.items() if k not in VERSION_COMPUTED}
            self.store.set_version_metadata(row.dandiset, row.version, name or row.name, metadata)
            return self.do_version_info(request, did, version)
        return _json(self.version_metadata(request, self.version_of(did, version)))

    def do_version_info(self, request: Request, did: str, version: str) -> Response:
        row = self.version_of(did, version)
        body = self.version_json(row)
        body["dandiset"] = {
            k: v
            for k, v in self.dandiset_json(row.dandiset, detail=False).items()
            if "version" not in k
        }
        body.update(
            asset_validation_errors=[],
            version_validation_errors=[],
            metadata=self.version_metadata(request, row),
            contact_person=_contact_person(row.metadata),
        )
        return _json(body)

    # -- assets ---------------------------------------------------------------------------

    def do_assets(self, request: Request, did: str, version: str) -> Response:
        if request.method == "POST":
            row = self.draft_of(did, version)
            blob_id, metadata, path = self.asset_request(request)
            self.check_path_free(row, path)
            asset = self.store.add_asset(row.dandiset, row.version, path, blob_id, metadata)
            return _json(self.asset_json(request, asset))
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
            return _json(self.asset_metadata(request, self.asset_of(asset_id, row)))
        row = self.draft_of(did or "", version or DRAFT)
        old = self.asset_of(asset_id, row)
        if request.method == "DELETE":
            self.store.remove_asset(row.dandiset, row.version, asset_id)
            return Response(status=204)
        blob_id, metadata, path = self.asset_request(request)
        if blob_id == old.blob.blob_id and metadata == old.metadata and path == old.path:
            return _json(self.asset_json(request, old))  # unchanged: the same asset
        self.check_path_free(row, path, ignore=asset_id)
        new = self.store.add_asset(
            row.dandiset, row.version, path, blob_id, metadata, replacing=asset_id
        )
        return _json(self.asset_json(request, new))

    def do_asset_info(
        self, request: Request, asset_id: str, did: str | None = None, version: str | None = None
    ) -> Response:
        row = None if did is None else self.version_of(did, version or DRAFT)
        return _json(self.asset_json(request, self.asset_of(asset_id, row)))

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
        if not valid_asset_path(path):
            raise ApiError(400, [f"Path improperly formatted: {path!r}"])
        if self.store.get_blob(blob_id) is None:
            raise _not_found()
        kept = {k: v for k, v in metadata.items() if k not in ASSET_COMPUTED}
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

    # -- uploads and blobs ----------------------------------------------------------------

    def do_upload_initialize(self, request: Request) -> Response:
        data = self.body(request)
        size, digest, did = data.get("contentSize"), data.get("digest"), data.get("dandiset")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ApiError(
                400, {"contentSize": ["Ensure this value is greater than or equal to 1."]}
            )
        if not isinstance(digest, dict) or not isinstance(digest.get("value"), str):
            raise ApiError(400, {"digest": ["This field is required."]})
        if digest.get("algorithm") != ETAG:
            raise ApiError(400, "Unsupported Digest Type")
        if not isinstance(did, str) or not re.fullmatch(r"\d{6}", did):
            raise ApiError(400, {"dandiset": ["This value does not match the required pattern."]})
        row = self.version_of(did, DRAFT)
        etag = digest["value"]
        existing = self.store.find_blob(etag=etag)
        if existing is not None:
            return _json("Blob already exists.", 409, {"Location": existing.blob_id})
        upload_id = str(uuid.uuid4())
        key = f"blobs/{upload_id[:3]}/{upload_id[3:6]}/{upload_id}"
        started = self.storage.client.create_multipart_upload(Bucket=self.storage.bucket, Key=key)
        multipart_id = started["UploadId"]
        self.store.create_upload(upload_id, multipart_id, key, etag, size, row.dandiset)
        parts = [
            {
                "part_number": number,
                "size": part_size,
                "upload_url": self.storage.presign(
                    "upload_part", Key=key, UploadId=multipart_id, PartNumber=number
                ),
            }
            for number, part_size in _dandi_etag_parts(size)
        ]
        logger.debug("upload %s of %d bytes (%s) in %d parts", upload_id, size, etag, len(parts))
        return _json({"upload_id": upload_id, "parts": parts})

    def do_upload_complete(self, request: Request, upload_id: str) -> Response:
        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise _not_found()
        parts = self.body(request).get("parts")
        if not isinstance(parts, list) or not parts:
            raise ApiError(400, {"parts": ["This list may not be empty."]})
        try:
            ordered = sorted((int(p["part_number"]), str(p["etag"])) for p in parts)
        except (KeyError, TypeError, ValueError) as e:
            raise ApiError(400, {"parts": ["Each part needs part_number, size and etag."]}) from e
        xml = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{_xml_escape(etag)}</ETag></Part>"
            for number, etag in ordered
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{xml}'
            "</CompleteMultipartUpload>"
        )
        url = self.storage.presign(
            "complete_multipart_upload", Key=upload.object_key, UploadId=upload.multipart_upload_id
        )
        return _json({"complete_url": url, "body": body})

    def do_upload_validate(self, request: Request, upload_id: str) -> Response:
        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise _not_found()
        head = self.storage.head(upload.object_key)
        if head is None:
            raise ApiError(400, ["Object does not exist."])
        actual_size, actual_etag = int(head["ContentLength"]), str(head["ETag"]).strip('"')
        if actual_size != upload.size:
            raise ApiError(400, [f"Size {upload.size} does not match actual size {actual_size}."])
        if actual_etag != upload.etag:  # the dandi-etag is the S3 multipart ETag
            raise ApiError(400, [f"ETag {upload.etag} does not match actual ETag {actual_etag}."])
        blob = self.store.upload_to_blob(upload, self.storage.sha256(upload.object_key))
        return _json(_blob_json(blob.blob_id, blob.etag, blob.sha256, blob.size))

    def do_blob_digest(self, request: Request) -> Response:
        data = self.body(request)
        algorithm, value = data.get("algorithm"), data.get("value")
        if algorithm not in (ETAG, SHA256) or not isinstance(value, str):
            raise ApiError(400, f"Unsupported Digest Algorithm. Supported: {ETAG}, {SHA256}")
        if algorithm == ETAG:
            blob = self.store.find_blob(etag=value)
        else:
            blob = self.store.find_blob(sha256=value)
        if blob is None:
            raise _not_found()
        return _json(_blob_json(blob.blob_id, blob.etag, blob.sha256, blob.size))


def _blob_json(blob_id: str, etag: str, sha256: str | None, size: int) -> dict[str, Any]:
    return {"blob_id": blob_id, "etag": etag, "sha256": sha256, "size": size}


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _contact_person(metadata: dict[str, Any]) -> str:
    for contributor in metadata.get("contributor") or []:
        roles: Iterable[str] = contributor.get("roleName") or []
        if contributor.get("name") and "dcite:ContactPerson" in roles:
            return str(contributor["name"])
    return ""


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to this module's logger at DEBUG, never to stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug("%s - " + message, self.address_string(), *args)


class DandiSandbox:
    """The local archive served on 127.0.0.1 in a background thread; a context manager."""

    def __init__(
        self, s3_endpoint: str, bucket: str, region: str, db_path: Path, port: int = 0
    ) -> None:
        self.store = DandiStore(db_path)
        self.app = DandiApp(self.store, BlobStorage(s3_endpoint, bucket, region))
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def api_key(self) -> str:
        return self.store.api_key()

    @property
    def api_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the DANDI sandbox is not running")
        return f"http://127.0.0.1:{self._server.port}/api"

    @property
    def api_key_env_var(self) -> str:
        """Where dandi-cli looks for the key: its instance name (the API's host:port) + _API_KEY."""
        host = urlsplit(self.api_url).netloc
        return f"{host.upper().replace('-', '_')}_API_KEY"

    def environment(self) -> dict[str, str]:
        """What a shell needs for `dandi upload` etc. to use this archive without `-i`."""
        return {"DANDI_INSTANCE": self.api_url, self.api_key_env_var: self.api_key}

    def start(self) -> str:
        if self._server is None:
            self._server, self._thread = serve_on_loopback(
                self.app, self._port, _QuietHandler, "dandi-sandbox"
            )
            logger.info("DANDI sandbox serving %s", self.api_url)
        return self.api_url

    def create_dandiset(self, name: str) -> str:
        """An empty dandiset with a draft version; its 6-digit identifier."""
        return self.store.create_dandiset(name).identifier

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = self._thread = None
        self.store.close()

    def __enter__(self) -> DandiSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
