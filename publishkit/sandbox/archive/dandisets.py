"""Server info, the API key check, dandisets and their versions."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from publishkit.sandbox.archive.base import (
    CLI_MINIMAL_VERSION,
    VERSION_COMPUTED,
    ApiError,
    ArchiveBase,
    contact_person,
    json_response,
)
from publishkit.sandbox.archive.rows import DRAFT


class DandisetRoutes(ArchiveBase):
    """Server info, the API key check, dandisets and their versions."""

    def do_info(self, request: Request) -> Response:
        from dandischema.consts import DANDI_SCHEMA_VERSION

        from publishkit import __version__

        return json_response(
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
        return json_response(self.store.api_key())

    def do_dandisets(self, request: Request) -> Response:
        if request.method == "POST":
            data = self.body(request)
            name, metadata = data.get("name"), data.get("metadata", {})
            if not isinstance(name, str) or not name or not isinstance(metadata, dict):
                raise ApiError(400, {"name": ["This field is required."]})
            metadata = {k: v for k, v in metadata.items() if k not in VERSION_COMPUTED}
            created = self.store.create_dandiset(name, metadata)
            return json_response(self.dandiset_json(created.number, detail=True))
        rows = self.store.list_dandisets()
        return self.paginate(request, [self.dandiset_json(r.number, detail=False) for r in rows])

    def do_dandiset(self, request: Request, did: str) -> Response:
        return json_response(self.dandiset_json(self.version_of(did, DRAFT).dandiset, detail=True))

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
            asset_validation_errors=[],
            version_validation_errors=[],
            metadata=self.version_metadata(request, row),
            contact_person=contact_person(row.metadata),
        )
        return json_response(body)
