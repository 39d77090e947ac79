"""The local archive's WSGI application: its routes, each answered by one route group."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from publishkit.sandbox.archive.assets import AssetRoutes
from publishkit.sandbox.archive.base import ApiError, json_response
from publishkit.sandbox.archive.blobs import BlobStorage
from publishkit.sandbox.archive.dandisets import DandisetRoutes
from publishkit.sandbox.archive.publish import PublishRoutes
from publishkit.sandbox.archive.store import DandiStore
from publishkit.sandbox.archive.uploads import UploadRoutes

logger = logging.getLogger(__name__)


class DandiApp(DandisetRoutes, AssetRoutes, UploadRoutes, PublishRoutes):
    """The WSGI application (werkzeug); one user, who owns every dandiset."""

    def __init__(self, store: DandiStore, storage: BlobStorage) -> None:
        self.store, self.storage = store, storage
        d, v, a = "/api/dandisets/<did>", "/versions/<version>", "/assets/<asset_id>"
        routes: list[tuple[str, str, list[str]]] = [
            ("/server-info", "info", ["GET"]),
            ("/api/info/", "info", ["GET"]),
            ("/api/auth/token/", "auth_token", ["GET"]),
            ("/api/dandisets/", "dandisets", ["GET", "POST"]),
            (f"{d}/", "dandiset", ["GET", "DELETE"]),
            (f"{d}/versions/", "versions", ["GET"]),
            (f"{d}{v}/", "version", ["GET", "PUT"]),
            (f"{d}{v}/info/", "version_info", ["GET"]),
            (f"{d}{v}/publish/", "publish", ["POST"]),
            (f"{d}{v}/assets/", "assets", ["GET", "POST"]),
            (f"{d}{v}{a}/", "asset", ["GET", "PUT", "DELETE"]),
            (f"{d}{v}{a}/info/", "asset_info", ["GET"]),
            (f"{d}{v}{a}/validation/", "asset_validation", ["GET"]),
            (f"{d}{v}{a}/download/", "download", ["GET"]),
            (f"/api{a}/", "asset", ["GET"]),
            (f"/api{a}/info/", "asset_info", ["GET"]),
            (f"/api{a}/download/", "download", ["GET"]),
            ("/api/uploads/initialize/", "upload_initialize", ["POST"]),
            ("/api/uploads/<upload_id>/complete/", "upload_complete", ["POST"]),
            ("/api/uploads/<upload_id>/validate/", "upload_validate", ["POST"]),
            ("/api/blobs/digest/", "blob_digest", ["POST"]),
            ("/dandiset/<did>/<version>", "web_version", ["GET"]),
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
            return json_response(e.body, e.status, e.headers)
        except NotFound:
            return json_response({"detail": "Not found."}, 404)
        except MethodNotAllowed as e:
            allow = {"Allow": ", ".join(e.valid_methods or [])}
            return json_response({"detail": f'Method "{request.method}" not allowed.'}, 405, allow)
        except HTTPException as e:
            return e.get_response(request.environ)
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return json_response({"detail": "Server error."}, 500)
