"""What changed between two manifests, file by file and by content hash."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import compress
from operator import itemgetter, ne
from typing import Any, Literal

import msgspec

from publishkit.formats.manifest import allensdk_relpaths, entry_relpaths
from publishkit.formats.versions import Bump

Kind = Literal["created", "deleted", "changed", "renamed"]
KINDS: tuple[Kind, ...] = ("created", "changed", "renamed", "deleted")
GROUP_OF = {"metadata_files": "metadata", "data_files": "data"}


class Change(msgspec.Struct, frozen=True):
    """One file's change between two manifests: created, changed, renamed or deleted."""

    group: str  # "metadata" or "data"
    kind: Kind
    path: str
    new_path: str | None = None  # renamed: where the content went
    hashes: tuple[str, str] | None = None  # changed: the content's blake2b before and after

    def describe(self) -> str:
        """The change as AllenSDK's compare_manifests words it."""
        if self.kind == "renamed":
            return f"{self.path} renamed {self.new_path}"
        return f"{self.path} {self.kind}"


def compare(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    """Changes from `old` (None: nothing published yet) to `new`, metadata first, by path."""
    changes: list[Change] = []
    for group, label in GROUP_OF.items():
        before = _hashes(old[group]) if old else {}
        after = _hashes(new[group])
        changes.extend(_diff(label, before, after))
    return changes


def _hashes(entries: dict[str, Any]) -> dict[str, str]:
    """Each entry's path and file_hash (the last entry's, for a path listed twice)."""
    listed = list(entries.values())
    return dict(zip(entry_relpaths(listed), map(itemgetter("file_hash"), listed), strict=True))


def _diff(group: str, before: dict[str, str], after: dict[str, str]) -> list[Change]:
    # changed or gone: the paths whose hash after (None: gone) is not the one before
    differ = list(compress(before, map(ne, map(after.get, before), before.values())))
    changes = [
        Change(group, "changed", path, hashes=(before[path], after[path]))
        for path in sorted(p for p in differ if p in after)
    ]
    gone = sorted(path for path in differ if path not in after)
    arrived = sorted(after.keys() - before.keys())
    unclaimed: dict[str, list[str]] = {}
    for path in arrived:
        unclaimed.setdefault(after[path], []).append(path)
    for path in gone:
        targets = unclaimed.get(before[path])
        if targets:
            changes.append(Change(group, "renamed", path, targets.pop(0)))
        else:
            changes.append(Change(group, "deleted", path))
    changes.extend(Change(group, "created", p) for ps in unclaimed.values() for p in ps)
    return sorted(changes, key=lambda c: c.path)


def counts(changes: list[Change], group: str | None = None) -> dict[str, int]:
    """How many changes of each kind (only the kinds present), in one group or all."""
    tally = Counter(c.kind for c in changes if group is None or c.group == group)
    return {kind: tally[kind] for kind in KINDS if tally[kind]}


def suggest_bump(changes: list[Change]) -> Bump | None:
    """major: a file deleted or renamed; minor: a data file created or changed; patch: tables."""
    if not changes:
        return None
    if any(c.kind in ("deleted", "renamed") for c in changes):
        return "major"
    if any(c.group == "data" for c in changes):
        return "minor"
    return "patch"


def allensdk_text(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> str:
    """Exactly what AllenSDK's `CloudCacheBase.compare_manifests` returns for these manifests."""
    lines: dict[str, list[str]] = {}
    for group in GROUP_OF:
        names = [_allensdk_names(doc[group]) for doc in (old, new)]
        lines[group] = [delta for _, delta in sorted(_allensdk_detect(names[0], names[1]).items())]
    if not lines["metadata_files"] and not lines["data_files"]:
        return "The two manifests are equivalent"
    head = f"Changes going from\n{old_name}\nto\n{new_name}\n\n"
    return head + "".join(f"{line}\n" for line in lines["metadata_files"] + lines["data_files"])


def _allensdk_names(entries: dict[str, Any]) -> dict[str, str]:
    """AllenSDK's file name -> hash; it walks the ids sorted (a later id's name wins)."""
    walked = [(entry["url"], entry["file_hash"]) for _, entry in sorted(entries.items())]
    names = allensdk_relpaths([url for url, _ in walked])
    return dict(zip(names, [digest for _, digest in walked], strict=True))


def _allensdk_detect(h0: dict[str, str], h1: dict[str, str]) -> dict[str, str]:
    """AllenSDK's `_detect_changes`, quirks included (a copy of an old file is not 'created');
    it looks at every name, this only at those whose hash differs or that one side lacks."""
    by_hash0 = dict(zip(h0.values(), h0, strict=True))  # the last name per hash wins
    by_hash1 = dict(zip(h1.values(), h1, strict=True))
    deltas = {}
    for name, digest in h0.items() - h1.items():
        if name in h1:
            deltas[name] = f"{name} changed"
        else:
            moved = by_hash1.get(digest)
            deltas[name] = f"{name} renamed {moved}" if moved else f"{name} deleted"
    for name in h1.keys() - h0.keys():
        if h1[name] not in by_hash0:
            deltas[name] = f"{name} created"
    return deltas
