"""Semantic versions of releases: parsing, ordering and bumping (semver.org 2.0.0)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from publishkit.errors import VersionError

Bump = Literal["major", "minor", "patch"]
BUMPS: tuple[Bump, ...] = ("major", "minor", "patch")

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


@dataclass(frozen=True, order=True)
class Version:
    """A semantic version (semver.org 2.0.0), ordered and told apart as semver orders them (by
    precedence: the build metadata plays no part)."""

    _precedence: tuple[Any, ...] = field(init=False, repr=False)
    major: int = field(compare=False)
    minor: int = field(compare=False)
    patch: int = field(compare=False)
    prerelease: str = field(default="", compare=False)
    build: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        pre = tuple(
            (0, int(part)) if part.isdigit() else (1, part) for part in self.prerelease.split(".")
        )
        key = (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)
        object.__setattr__(self, "_precedence", key)

    @classmethod
    def parse(cls, text: str) -> Version:
        """The version `text` spells; a VersionError with the fix when it is not semver."""
        match = _SEMVER.match(text.strip())
        if match is None:
            raise VersionError(
                f"version {text!r} is not a semantic version",
                hint="use MAJOR.MINOR.PATCH, e.g. 0.2.0, or pass --bump major|minor|patch",
            )
        major, minor, patch, pre, build = match.groups()
        return cls(int(major), int(minor), int(patch), pre or "", build or "")

    @property
    def core(self) -> tuple[int, int, int]:
        """MAJOR, MINOR and PATCH, without pre-release or build."""
        return (self.major, self.minor, self.patch)

    def bump(self, part: Bump) -> Version:
        """The next version of this kind. A pre-release bumps to its own final version when
        that is of the kind asked for (1.0.1-rc1 patch -> 1.0.1, 2.0.0-rc1 major -> 2.0.0), as
        npm's semver does: the final version is what the pre-release was leading to."""
        pre = bool(self.prerelease)
        if part == "major":
            if pre and self.minor == 0 and self.patch == 0:
                return Version(self.major, 0, 0)
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            if pre and self.patch == 0:
                return Version(self.major, self.minor, 0)
            return Version(self.major, self.minor + 1, 0)
        if pre:
            return Version(self.major, self.minor, self.patch)
        return Version(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += f"-{self.prerelease}"
        if self.build:
            text += f"+{self.build}"
        return text
