"""Every error publishkit raises on purpose; `cli/app.py` turns them into exit codes."""

from __future__ import annotations


class PublishkitError(Exception):
    """Base class: a one-line message naming the input, plus an optional fix."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(PublishkitError):
    """A command-line argument is missing, contradictory or malformed."""


class ConfigError(PublishkitError):
    """publishkit.yaml is missing or does not match its schema."""


class WorkspaceError(PublishkitError):
    """A metadata table or a data file it lists is missing or malformed."""


class ManifestError(PublishkitError):
    """A manifest file cannot be read or does not match the manifest schema."""


class VersionError(PublishkitError):
    """A release version is not semver, already published, or not newer than the last."""


class StorageError(PublishkitError):
    """The object store refused a request or is not set up for releases."""


class StoreUnavailable(StorageError):
    """The object store or the DANDI archive did not answer, or failed on its side: an
    outage, exit 1 like a failed upload (running again once it is back resumes)."""

    exit_code = 1


class CredentialsError(StorageError):
    """No credentials were found for a request that needs them."""


class CheckFailed(PublishkitError):
    """A check ran and found problems (verify, fetch, upload)."""

    exit_code = 1


class Interrupted(PublishkitError):
    """The run was stopped by SIGINT (Ctrl-C) or SIGTERM before its next write."""

    exit_code = 130

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int = 130) -> None:
        super().__init__(message, hint)
        self.exit_code = exit_code


class CannotWrite(PublishkitError):
    """A local file or folder cannot be written: a folder where a file goes, read-only, denied."""


class DiskFull(CannotWrite):
    """The disk has no space left for what a command writes; freeing space and retrying works."""

    exit_code = 1


class ProcessDied(PublishkitError):
    """A process publishkit started for part of the work died before it answered (killed,
    out of memory): exit 1, like a failed check; running again usually works."""

    exit_code = 1
