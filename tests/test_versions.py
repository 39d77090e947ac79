from __future__ import annotations

import pytest

from publishkit.errors import VersionError
from publishkit.versions import Version


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
