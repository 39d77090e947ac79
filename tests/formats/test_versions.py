from __future__ import annotations

import pytest

from publishkit.errors import VersionError
from publishkit.formats.versions import Version


def test_ordering_follows_semver() -> None:
    ordered = ["0.1.0", "0.2.0-alpha", "0.2.0-alpha.1", "0.2.0-beta", "0.2.0", "0.10.0", "1.0.0"]
    parsed = [Version.parse(v) for v in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert [str(v) for v in parsed] == ordered


def test_bumps() -> None:
    v = Version.parse("1.2.3")
    assert (str(v.bump("major")), str(v.bump("minor")), str(v.bump("patch"))) == (
        "2.0.0",
        "1.3.0",
        "1.2.4",
    )


@pytest.mark.parametrize("bad", ["1", "1.2", "1.2.3.4", "v1.2.3", "1.02.3", ""])
def test_rejects_non_semver(bad: str) -> None:
    with pytest.raises(VersionError):
        Version.parse(bad)


@pytest.mark.parametrize(
    ("pre", "part", "bumped"),
    [
        ("1.0.1-rc1", "patch", "1.0.1"),  # a pre-release leads to its own final version
        ("1.0.1-rc1", "minor", "1.1.0"),
        ("1.0.1-rc1", "major", "2.0.0"),
        ("1.1.0-rc.2", "minor", "1.1.0"),
        ("1.1.0-rc.2", "patch", "1.1.0"),
        ("2.0.0-beta", "major", "2.0.0"),
        ("2.0.0-beta", "minor", "2.0.0"),
    ],
)
def test_bumps_from_a_pre_release_go_to_its_final_version(pre: str, part: str, bumped: str) -> None:
    assert str(Version.parse(pre).bump(part)) == bumped  # type: ignore[arg-type]
    assert Version.parse(bumped) > Version.parse(pre)


def test_build_metadata_neither_orders_nor_tells_versions_apart() -> None:
    a, b = Version.parse("1.0.0+build.1"), Version.parse("1.0.0+build.2")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1 and not a < b
    assert (str(a), str(b)) == ("1.0.0+build.1", "1.0.0+build.2")
    assert a != "1.0.0" and a == Version(1, 0, 0)
    numeric = [Version.parse(v) for v in ("1.0.0-2", "1.0.0-10", "1.0.0-a", "1.0.0-a.1")]
    assert sorted(reversed(numeric)) == numeric  # numeric identifiers by value, before text
    assert repr(a) == "Version(major=1, minor=0, patch=0, prerelease='', build='build.1')"
