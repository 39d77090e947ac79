"""An NWB file's asset metadata as the archive validates it before it may be published.

dandi-cli checks the metadata it uploads as a `BareAsset`; the archive validates each asset
again, with what it computes itself (identity, URLs, size, digests, access, who published it
and when), as a `PublishedAsset` with its JSON Schema (dandiapi's validate_asset_metadata). An
asset it finds Invalid blocks the dandiset's publish: found here, it is a finding of the file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

from publishkit.formats.dandi_computed import publish_activity
from publishkit.formats.schemas import Validator, first_violation

CHECK = "check_dandi_published_asset"


def published_asset_problems(metadata: dict[str, Any], path: str) -> list[str]:
    """What the archive's validation of this asset at publish would refuse, one message each;
    `metadata`: dandi-cli's asset metadata of the file at `path` (as uploaded)."""
    return asset_problems(_as_published(metadata, path))


# dandischema's `validate` checks a PublishedAsset against its JSON Schema with jsonschema (~4 ms:
# the schema is 43 KB), then builds the pydantic model. Here the JSON Schema is compiled once per
# process (each inspection worker compiles its own, at its first file) by jsonschema-rs, with
# jsonschema's own format checks: an asset it passes goes on to the model alone; one it refuses,
# or any asset of another schema version, goes through dandischema's `validate`, whose messages
# the findings quote. tests/inspection/test_published_asset.py checks both give one verdict.
def asset_problems(document: dict[str, Any]) -> list[str]:
    """The problems of a PublishedAsset document, as dandischema's `validate` finds them."""
    from dandischema.consts import DANDI_SCHEMA_VERSION

    if document.get("schemaVersion") != DANDI_SCHEMA_VERSION or not _compiled()(document):
        return dandischema_problems(document)
    return _model_problems(document)


def prepare() -> None:
    """Compile the validator now (in the process inspection workers fork from)."""
    _compiled()


@cache
def _compiled() -> Validator:
    from publishkit.formats.schemas import compile_schema
    from publishkit.upstream import dandischema_validator

    validator = dandischema_validator("PublishedAsset")
    checker = validator.format_checker
    formats: dict[str, Callable[[str], bool]] = {
        name: partial(_conforms, checker, name) for name in checker.checkers
    }
    return compile_schema(validator.schema, formats=formats)


def _conforms(checker: Any, name: str, value: str) -> bool:
    return bool(checker.conforms(value, name))


def _model_problems(document: dict[str, Any]) -> list[str]:
    from dandischema.models import PublishedAsset
    from pydantic import ValidationError

    try:
        PublishedAsset(**document)
    except ValidationError as exc:
        return [_message(list(e["loc"]), str(e["msg"])) for e in exc.errors()]
    return []


def dandischema_problems(document: dict[str, Any]) -> list[str]:
    """The problems dandischema's `validate` finds in a PublishedAsset document."""
    from dandischema.exceptions import JsonschemaValidationError, PydanticValidationError
    from dandischema.metadata import validate

    try:
        validate(document, schema_key="PublishedAsset", json_validation=True)
    except JsonschemaValidationError as exc:
        found = [first_violation([error], deepest=True) for error in exc.errors]
        return [_message(list(v.path), v.message) for v in found if v is not None]
    except PydanticValidationError as exc:
        return [_message(list(e["loc"]), str(e["msg"])) for e in exc.errors]
    except ValueError as exc:
        return [_message([], str(exc))]
    return []


def _as_published(metadata: dict[str, Any], path: str) -> dict[str, Any]:
    """The metadata with the fields the archive computes, as placeholders of their form."""
    asset_id, now = str(uuid.uuid4()), datetime.now(UTC).isoformat()
    etag = (metadata.get("digest") or {}).get("dandi:dandi-etag", "0" * 32 + "-1")
    return {
        **metadata,
        "schemaKey": "Asset",  # what dandi-cli sends (dandiapi's Asset)
        "id": f"dandiasset:{asset_id}",
        "identifier": asset_id,
        "access": [{"schemaKey": "AccessRequirements", "status": "dandi:OpenAccess"}],
        "path": os.path.basename(path),
        "contentUrl": [
            f"https://api.dandiarchive.org/api/assets/{asset_id}/download/",
            f"https://dandiarchive.s3.amazonaws.com/blobs/{asset_id}",
        ],
        "contentSize": os.path.getsize(path),
        "digest": {"dandi:dandi-etag": etag, "dandi:sha2-256": "0" * 64},
        "@context": "https://raw.githubusercontent.com/dandi/schema/master/releases/"
        f"{metadata.get('schemaVersion')}/context.json",
        "datePublished": now,
        "publishedBy": publish_activity(now),
    }


def _message(where: list[Any], message: str) -> str:
    field = ".".join(str(part) for part in where) or "the asset"
    return f"DANDI would refuse to publish this asset: {field}: {message}"
