"""Uploads: initialize with presigned part URLs, complete, validate; blob lookup by digest."""

from __future__ import annotations

import logging
import re
import uuid

from werkzeug.wrappers import Request, Response

from publishkit.sandbox.archive.base import (
    ApiError,
    ArchiveBase,
    json_response,
    not_found,
    xml_escape,
)
from publishkit.sandbox.archive.blobs import blob_json, dandi_etag_parts
from publishkit.sandbox.archive.documents import ETAG, SHA256
from publishkit.sandbox.archive.rows import DRAFT

logger = logging.getLogger(__name__)


class UploadRoutes(ArchiveBase):
    """Uploads: initialize with presigned part URLs, complete, validate; blob lookup by digest."""

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
            return json_response("Blob already exists.", 409, {"Location": existing.blob_id})
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
            for number, part_size in dandi_etag_parts(size)
        ]
        logger.debug("upload %s of %d bytes (%s) in %d parts", upload_id, size, etag, len(parts))
        return json_response({"upload_id": upload_id, "parts": parts})

    def do_upload_complete(self, request: Request, upload_id: str) -> Response:
        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise not_found()
        parts = self.body(request).get("parts")
        if not isinstance(parts, list) or not parts:
            raise ApiError(400, {"parts": ["This list may not be empty."]})
        try:
            ordered = sorted((int(p["part_number"]), str(p["etag"])) for p in parts)
        except (KeyError, TypeError, ValueError) as e:
            raise ApiError(400, {"parts": ["Each part needs part_number, size and etag."]}) from e
        xml = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{xml_escape(etag)}</ETag></Part>"
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
        return json_response({"complete_url": url, "body": body})

    def do_upload_validate(self, request: Request, upload_id: str) -> Response:
        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise not_found()
        head = self.storage.head(upload.object_key)
        if head is None:
            raise ApiError(400, ["Object does not exist."])
        actual_size, actual_etag = int(head["ContentLength"]), str(head["ETag"]).strip('"')
        if actual_size != upload.size:
            raise ApiError(400, [f"Size {upload.size} does not match actual size {actual_size}."])
        if actual_etag != upload.etag:  # the dandi-etag is the S3 multipart ETag
            raise ApiError(400, [f"ETag {upload.etag} does not match actual ETag {actual_etag}."])
        blob = self.store.upload_to_blob(upload, self.storage.sha256(upload.object_key))
        return json_response(blob_json(blob.blob_id, blob.etag, blob.sha256, blob.size))

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
            raise not_found()
        return json_response(blob_json(blob.blob_id, blob.etag, blob.sha256, blob.size))
