"""Publishing a draft, with the archive's preconditions; and the web address of a version.

`POST /dandisets/{id}/versions/draft/publish/` (dandiapi's VersionViewSet.publish and
_lock_dandiset_for_publishing): only the draft, only by its owner (the archive's one user),
only when it changed since the last publish, is not being validated or published, and it and
every asset are Valid. The draft is locked (Publishing) and the archive's tasks publish it;
the answer is 202, as the archive's. The body may give `release_notes` (PublishVersionSerializer:
a string of at most 5000 characters), which the version published gets as its `releaseNotes`.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from publishkit.sandbox.archive.base import ApiError, ArchiveBase
from publishkit.sandbox.archive.rows import (
    DRAFT,
    INVALID,
    PENDING,
    PUBLISHED,
    PUBLISHING,
    VALID,
    VALIDATING,
)

RELEASE_NOTES_MAX = 5000  # dandiapi's Version.release_notes max_length
# The archive's refusal for each status a draft cannot be published in (DandiError subclasses).
REFUSALS = {
    PUBLISHED: (400, "There have been no changes to the draft version since the last publish."),
    PUBLISHING: (423, "Dandiset is currently being published"),
    VALIDATING: (409, "Dandiset is currently being validated"),
    INVALID: (400, "Dandiset metadata or asset metadata is not valid"),
    PENDING: (409, "Metadata validation is pending for this dandiset, please try again later."),
    VALID: (400, "Dandiset metadata or asset metadata is not valid"),  # an asset is not Valid
}


class PublishRoutes(ArchiveBase):
    """Publishing a draft; the web address of a version."""

    def do_publish(self, request: Request, did: str, version: str) -> Response:
        row = self.version_of(did, version)
        if row.version != DRAFT:
            raise ApiError(405, "Only draft versions can be published")
        notes = self.body(request).get("release_notes", "")
        if not isinstance(notes, str):
            raise ApiError(400, {"release_notes": ["Not a valid string."]})
        if len(notes) > RELEASE_NOTES_MAX:
            message = f"Ensure this field has no more than {RELEASE_NOTES_MAX} characters."
            raise ApiError(400, {"release_notes": [message]})
        lock = self.store.lock_for_publishing(row.dandiset, notes)
        if not lock.locked:
            status, message = REFUSALS[lock.status]
            raise ApiError(status, message)
        return Response(status=202)

    def do_web_version(self, request: Request, did: str, version: str) -> Response:
        """The archive's web page of a version; here, its API document."""
        self.version_of(did, version)
        target = f"{self.site(request).api}/dandisets/{did}/versions/{version}/info/"
        return Response(status=302, headers={"Location": target})
