"""Server info, the API key check, dandisets (list, create, get, delete) and their versions."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from publishkit.formats.dandi_computed import VERSION_STRIPPED
from publishkit.sandbox.archive.base import (
    CLI_MINIMAL_VERSION,
    ApiError,
    ArchiveBase,
    json_response,
)
from publishkit.sandbox.archive.documents import INSTANCE_NAME, contact_person
from publishkit.sandbox.archive.rows import DRAFT, INVALID, PENDING, VALIDATING, VersionRow

PENDING_ASSET = "asset is currently being validated, please wait."


class DandisetRoutes(ArchiveBase):
    """Server info, the API key check, dandisets and their versions."""

    def do_info(self, request: Request) -> Response:
        from dandischema.conf import get_instance_config
        from dandischema.consts import ALLOWED_INPUT_SCHEMAS, DANDI_SCHEMA_VERSION

        from publishkit import __version__

        site = self.site(request)
        config = get_instance_config().model_dump(mode="json", exclude_none=False)
        return json_response(
            {
                "instance_config": {**config, "instance_name": INSTANCE_NAME},
                "schema_version": DANDI_SCHEMA_VERSION,
                "schema_url": "https://raw.githubusercontent.com/dandi/schema/master/releases/"
                f"{DANDI_SCHEMA_VERSION}/dandiset.json",
                "allowed_schema_versions": ALLOWED_INPUT_SCHEMAS,
                "version": f"publishkit-{__version__}",
                "cli-minimal-version": CLI_MINIMAL_VERSION,
                "cli-requires-python": ">=3.10",
                "cli-bad-versions": [],
                "services": {"api": {"url": site.api}, "webui": {"url": site.web}},
            }
        )

    def do_auth_token(self, request: Request) -> Response:
        self.authenticate(request, required=True)
        return json_response(self.store.api_key())

    def do_dandisets(self, request: Request) -> Response:
        if request.method == "POST":
            data = self.body(request)
            name, metadata = data.get("name"), data.get("metadata", {})
            if not isinstance(name, str) or not name or not isinstance(metadata, dict):
                raise ApiError(400, {"name": ["This field is required."]})
            metadata = {k: v for k, v in metadata.items() if k not in VERSION_STRIPPED}
            created = self.store.create_dandiset(name, metadata)
            return json_response(self.dandiset_json(created.number, detail=True))
        rows = self.store.list_dandisets()
        return self.paginate(request, [self.dandiset_json(r.number, detail=False) for r in rows])

    def do_dandiset(self, request: Request, did: str) -> Response:
        number = self.version_of(did, DRAFT).dandiset
        if request.method == "DELETE":
            refused = self.store.delete_dandiset(number)
            if refused:
                raise ApiError(403, refused)
            return Response(status=204)
        return json_response(self.dandiset_json(number, detail=True))

    def do_versions(self, request: Request, did: str) -> Response:
        number = self.version_of(did, DRAFT).dandiset
        order = request.args.get("order") or "created"
        if order.lstrip("-") != "created":
            raise ApiError(400, {"order": [f"Select a valid choice. {order} is not one of them."]})
        versions = self.store.list_versions(number)
        versions.sort(key=lambda v: v.created, reverse=order.startswith("-"))
        return self.paginate(request, [self.version_json(v) for v in versions])

    def do_version(self, request: Request, did: str, version: str) -> Response:
        if request.method == "PUT":
            row = self.draft_of(did, version)
            data = self.body(request)
            name, metadata = data.get("name"), data.get("metadata")
            if not isinstance(metadata, dict):
                raise ApiError(400, {"metadata": ["This field is required."]})
            if not isinstance(name, str) or not name:
                raise ApiError(400, {"name": ["This field may not be blank."]})
            from dandischema.consts import DANDI_SCHEMA_VERSION

            metadata.setdefault("schemaVersion", DANDI_SCHEMA_VERSION)
            metadata = {k: v for k, v in metadata.items() if k not in VERSION_STRIPPED}
            self.store.set_version_metadata(row.dandiset, row.version, name, metadata)
            return self.do_version_info(request, did, version)
        return json_response(self.version_metadata(request, self.version_of(did, version)))

    def do_version_info(self, request: Request, did: str, version: str) -> Response:
        row = self.version_of(did, version)
        body = self.version_json(row)
        body["dandiset"] = {
            k: v
            for k, v in self.dandiset_json(row.dandiset, detail=False).items()
            if "version" not in k
        }
        body.update(
            asset_validation_errors=self.asset_errors(row),
            version_validation_errors=row.validation_errors,
            metadata=self.version_metadata(request, row),
            contact_person=contact_person(row.metadata),
        )
        return json_response(body)

    def asset_errors(self, version: VersionRow) -> list[dict[str, str]]:
        """Assets not validated yet first, then each invalid asset's errors (as the archive's
        Version.asset_validation_errors lists them)."""
        assets = self.store.version_assets(version.dandiset, version.version)
        waiting = [
            {"field": "", "message": PENDING_ASSET, "path": a.path}
            for a in assets
            if a.status in (PENDING, VALIDATING)
        ]
        invalid = [
            {"field": e.get("field", ""), "message": e.get("message", ""), "path": a.path}
            for a in assets
            if a.status == INVALID
            for e in a.validation_errors
        ]
        return waiting[:50] + invalid
