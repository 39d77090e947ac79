"""Whether `open_release` signs its requests: found as cheaply as the credentials allow."""

from __future__ import annotations

import pytest

from publishkit.reading.release import _signed


def test_keys_in_the_environment_need_no_botocore_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment's keys are the chain's first provider: found there, the whole chain (a
    botocore session, 10-40 ms an open_release) is not asked. Not an S3 mock: a cost made
    visible."""
    asked = []
    monkeypatch.setattr("publishkit.s3.bucket.has_credentials", lambda: asked.append(1) or False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert _signed() and not asked

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert not _signed() and asked == [1]  # no keys there: the whole chain decides
