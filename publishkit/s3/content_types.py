"""The Content-Type an object is stored with: text says it is UTF-8, so that a browser or a
viewer reading it from the bucket decodes `é` and `→` as written, not as Latin-1."""

from __future__ import annotations

import codecs
import mimetypes
from pathlib import Path, PurePosixPath

UTF8 = "; charset=utf-8"
# text kinds publishkit writes or publishes, named here rather than left to the system's
# mime.types (which may not know .md)
TEXT = {
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
}
MARKDOWN = TEXT[".md"] + UTF8
HTML = TEXT[".html"] + UTF8
JSON = TEXT[".json"] + UTF8


def for_file(path: Path) -> str:
    """The Content-Type of a file to upload: a text kind with `charset=utf-8` when its bytes
    are UTF-8 (a table in Latin-1 claims no charset rather than a wrong one)."""
    text = TEXT.get(path.suffix.lower())
    if text is None:
        return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return text + UTF8 if _is_utf8(path) else text


def for_key(key: str) -> str:
    """The Content-Type of bytes publishkit wrote itself (always UTF-8) under `key`."""
    text = TEXT.get(PurePosixPath(key).suffix.lower())
    return text + UTF8 if text else "application/octet-stream"


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except (UnicodeDecodeError, OSError):
        return False
    return True
