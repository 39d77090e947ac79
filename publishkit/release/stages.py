"""The stages of `publishkit release`, each a value: its name, when the workspace enables it,
and what it does with the run so far.

A stage reads what the stages before it left in the `Run` and leaves its report in the run's
`PipelineResult` (`Run.result`, which `run_release` returns as it is); it
stops the run (`Run.stop`) when what follows must not happen: a row that failed to convert, a
failed inspection without a recorded reason, a failed DANDI upload or publish. Later stages
never publish from a run that went wrong; dandiset metadata the archive would refuse stops the
run before its first stage ("metadata").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

import msgspec

from publishkit.formats.versions import Bump
from publishkit.interrupts import Interrupt, never
from publishkit.progress import Progress
from publishkit.release.results import PipelineResult
from publishkit.workspace.settings import StageName, StopReason

if TYPE_CHECKING:
    from publishkit.release.decision import Decision
    from publishkit.release.s3_staging import Staged, Target
    from publishkit.site.publishing import DraftedIndex
    from publishkit.workspace.inventory import ReleaseFile
    from publishkit.workspace.settings import Settings


class Request(msgspec.Struct, frozen=True):
    """What the release engineer asked for."""

    version: str | None = None
    bump: Bump | None = None
    despite: str | None = None  # the reason to publish despite failed inspection
    notes: tuple[str, ...] = ()  # remarks for the top of this release's notes
    allow_empty: bool = False
    dandi_api_key: str | None = None
    jobs: int = 1
    allow_smaller_bump: bool = False  # --bump smaller than the changes call for is meant


class Run(msgspec.Struct):
    """One run of the pipeline: what it was asked, and what each stage has left so far."""

    settings: Settings
    request: Request
    selected: tuple[StageName, ...]  # the stages that run, in order
    progress: Progress
    target: Target | None = None  # the bucket, as checked before anything was written
    files: list[ReleaseFile] | None = None  # the files, collected when no stage converts
    staged: Staged | None = None  # the S3 release, staged once (preflight.stage), then read
    decision: Decision | None = None  # the release it cuts, settled before the first upload
    interrupt: Interrupt = never  # checked before each stage and before each write
    site_index: Future[DraftedIndex] | None = None  # the site's index, drawn during the upload
    # what each stage reports, the run's result: made for `selected` as the run starts
    result: PipelineResult = msgspec.field(default_factory=lambda: PipelineResult(stages=()))

    def __post_init__(self) -> None:
        self.result = PipelineResult(stages=self.selected)

    def stop(self, stage: StopReason) -> None:
        """Stop the run after this stage (METADATA: before the first): nothing after it runs."""
        self.result.stopped = stage

    def later(self, stage: StageName) -> tuple[StageName, ...]:
        """The selected stages after `stage`."""
        return self.selected[self.selected.index(stage) + 1 :]

    @property
    def s3_release(self) -> Staged:
        """The S3 release as staged at the one point of the path that stages it
        (`preflight.stage`: once its files are known, before anything is written)."""
        if self.staged is None:
            raise AssertionError("the S3 release is read before the path staged it")
        return self.staged


class Stage(msgspec.Struct, frozen=True):
    """A stage of the release: its name, and what it does. Whether the workspace enables it
    is the settings' to say (Settings.enables: one property per stage)."""

    name: StageName
    run: Callable[[Run], None]

    def enabled(self, settings: Settings) -> bool:
        return settings.enables(self.name)
