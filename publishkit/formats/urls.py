"""URLs in manifests: written from a key, and read back as the key, the bucket and the path
AllenSDK gives a file."""

from __future__ import annotations

import re
from functools import cache
from itertools import repeat
from operator import itemgetter
from urllib.parse import quote, unquote, urlparse, urlsplit

import msgspec

from publishkit.errors import ManifestError
from publishkit.formats.keys import MAX_KEY_BYTES, key_problem

_SAFE = "/-_.~"
_UNQUOTED = re.compile(r"[A-Za-z0-9/_.~-]*")  # what quote(key, safe=_SAFE) leaves alone
_PLAIN_URL = re.compile(r"https?://(?P<host>[^/?#;\[\]\t\r\n]*)(?P<path>[^?#;\[\]\t\r\n]*)")


def public_url(template: str, *, bucket: str, region: str, key: str) -> str:
    # a key of characters quote() keeps as they are is the common case, and much quicker to spot
    """The URL a manifest records for `key`: the template with the bucket, region and
    percent-encoded key."""
    quoted = key if _UNQUOTED.fullmatch(key) else quote(key, safe=_SAFE)
    around = _around_key(template, bucket, region)
    if around is None:
        return template.format(bucket=bucket, region=region, key=quoted)
    return around[0] + quoted + around[1]


@cache
def _around_key(template: str, bucket: str, region: str) -> tuple[str, str] | None:
    """The URL before and after the key, if the template's one mention of the key is a plain
    {key} (no conversion, format spec or index): what template.format puts around any key."""
    if template.count("{key") != 1 or "{key}" not in template:
        return None
    try:
        parts = template.format(bucket=bucket, region=region, key="\0").split("\0")
    except (KeyError, IndexError, ValueError, AttributeError):
        return None
    return (parts[0], parts[1]) if len(parts) == 2 else None


def allensdk_relpath(url: str) -> str:
    """What AllenSDK calls a file: the URL path without its first component (the prefix)."""
    return "/".join(_url_path(url)[1:].split("/")[1:])


def allensdk_relpaths(urls: list[str]) -> list[str]:
    """allensdk_relpath of each URL; in a few passes at C speed when all are plain (ASCII, and
    nothing _url_path leaves to urlparse): the path is then all after the URL's fourth slash."""
    joined = "\n".join(urls) if {str} >= set(map(type, urls)) else "?"
    if (
        not joined.isascii()
        or joined.count("\n") != len(urls) - 1
        or any(char in joined for char in "?#;[]\t\r")
        or not all(map(str.startswith, urls, repeat(("https://", "http://"))))
    ):
        return [allensdk_relpath(url) for url in urls]
    return [
        parts[4] if len(parts) == 5 else ""
        for parts in map(str.split, urls, repeat("/"), repeat(4))
    ]


def url_keys(urls: list[str]) -> list[str | None]:
    """The path of each URL (of a validated manifest), percent-decoded, without its leading
    '/': the object's key, after the bucket for a path-style URL; None for a URL urllib cannot
    split. In one pass at C speed when all are plain (ASCII, nothing _url_path leaves to
    urlparse, no '%')."""
    joined = "\n".join(urls)
    if (
        not joined.isascii()
        or joined.count("\n") != len(urls) - 1
        or any(char in joined for char in "?#;[]\t\r%")
        or not all(map(str.startswith, urls, repeat(("https://", "http://"))))
    ):
        return list(map(_url_key, urls))
    head = urls[0][: urls[0].find("/", len("https://")) + 1] if urls else ""
    if head.endswith("/") and all(map(str.startswith, urls, repeat(head))):  # one host
        return list(map(itemgetter(slice(len(head), None)), urls))
    return [
        parts[3] if len(parts) == 4 else ""
        for parts in map(str.split, urls, repeat("/"), repeat(3))
    ]


def _url_key(url: str) -> str | None:
    try:
        path = urlsplit(url).path
    except ValueError:  # e.g. "Invalid IPv6 URL"
        return None
    return unquote(path).removeprefix("/")


def url_error(url: str) -> str:
    """What urllib says of a URL it cannot split."""
    try:
        urlsplit(url)
    except ValueError as exc:
        return str(exc)
    return "unreadable"


def _url_path(url: str) -> str:
    """urlparse(url).path, found without urlparse in an http(s) URL with nothing urlparse
    treats specially (a query, fragment or ;params, brackets, tabs, newlines, a non-ASCII host)."""
    plain = _PLAIN_URL.fullmatch(url) if isinstance(url, str) else None
    if plain is not None and plain["host"].isascii():
        return plain["path"]
    return urlparse(url).path


class ObjectLocation(msgspec.Struct, frozen=True):
    """The bucket and key a manifest URL points at."""

    bucket: str
    key: str


def locate(url: str, template: str | None = None, bucket: str | None = None) -> ObjectLocation:
    """Bucket and key of a manifest URL: by the workspace's `public_url`, else S3's URL forms."""
    patterns = []
    if template:
        pattern = re.escape(template)
        for name, regex in (("bucket", r"[^/]+?"), ("region", r"[^/]+?"), ("key", r".+")):
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{regex})", 1)
        patterns.append(pattern)
    patterns += [
        r"https?://(?P<bucket>[^/]+?)\.s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com(?:\.cn)?/(?P<key>.+)",
        r"https?://s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com/(?P<bucket>[^/]+)/(?P<key>.+)",
        r"https?://[^/]+/(?P<bucket>[^/]+)/(?P<key>.+)",
    ]
    for pattern in patterns:
        match = re.fullmatch(pattern, url)
        if match is None:
            continue
        found = match.groupdict().get("bucket") or bucket
        if not found:
            continue
        key = unquote(match["key"])
        problem = key_problem(key)
        if problem is not None:
            raise ManifestError(
                f"{url}: the key it names, {key!r}, {problem}",
                hint="the manifest was edited by hand or is hostile: use the one the release "
                "published",
            )
        return ObjectLocation(found, key)
    raise ManifestError(
        f"{url}: cannot tell the bucket and key from this URL",
        hint="run inside the workspace whose s3.public_url produced it",
    )


# What urllib and AllenSDK read specially in a URL, and '%' (a key is percent-decoded)
_SPECIAL = "?#;[]\t\r\n%"
# printable ASCII but _SPECIAL and '\\' (a control character, a backslash: not a clean key), and
# the newline that joins the paths
_PLAIN_PATHS = bytes(sorted({*range(0x20, 0x7F), 0x0A} - {*b"?#;[]%\\"}))
_EMPTY_OR_DOTS = re.compile(r"/\.{0,2}/")  # an empty, '.' or '..' part of a path wrapped in '/'


def one_head(urls: list[str], paths: list[str]) -> str | None:
    """The start every URL shares when each URL is that start followed by the entry's path,
    and all are plain: the start is `http(s)://host/prefix/` (ASCII, a clean prefix) and the
    paths are ASCII and clean, with nothing urllib reads specially nor a '%'. Then each URL's
    key is the prefix, '/' and the path, a clean key; AllenSDK's path for it is the path; and
    each URL matches the schema's `^https?://[^?#]+$`. None when it is not so (a manifest whose
    URLs percent-encode their keys, say): each URL is then read on its own. All entries are
    checked at once, in a few passes over the paths joined (at C speed)."""
    if not urls or len(urls) != len(paths) or not paths[0] or not urls[0].endswith(paths[0]):
        return None
    head = urls[0][: len(urls[0]) - len(paths[0])]
    key_head = _plain_key_head(head)
    if key_head is None:
        return None
    try:  # each path between two '/'
        wrapped = "/" + "/\n/".join(paths) + "/"
        joined_urls = "\n".join(urls)
    except TypeError:  # not all strings
        return None
    if (
        not wrapped.isascii()
        or wrapped.count("\n") != len(paths) - 1  # (no newline in a path)
        or wrapped.encode().translate(None, _PLAIN_PATHS)
        or _EMPTY_OR_DOTS.search(wrapped) is not None
        or max(map(len, paths)) + len(key_head) > MAX_KEY_BYTES
        or joined_urls != head + ("\n" + head).join(paths)  # (each URL is the head + its path)
    ):
        return None
    return head


def _plain_key_head(head: str) -> str | None:
    """The key's start ("prefix/") in a URL start `http(s)://host/prefix/`, if it is one with a
    clean prefix and nothing urllib reads specially."""
    if not head.isascii() or any(char in head for char in _SPECIAL):
        return None
    parts = head.split("/")  # "https:", "", host, prefix, ""
    if (
        len(parts) != 5
        or parts[0] not in ("https:", "http:")
        or parts[1] != ""
        or parts[4] != ""
        or key_problem(parts[3]) is not None
    ):
        return None
    return parts[3] + "/"
