"""Where per-file work runs: processes on this machine (the default) or a Dask cluster.

Conversion, inspection and digests hand their per-file function and items to `on_dask` when
the workspace (`executor:` in publishkit.yaml) or the command line (`--executor dask
--scheduler ADDRESS`) says so. Results come back to this process as each task completes, and
the stage records them in its state store here: workers only compute (and conversion writes its
NWB file atomically), so a task run again after its worker was lost neither duplicates nor
loses anything. Dask's scheduler re-runs the tasks of a lost worker on the others; a task that
takes down several workers in turn is reported as failed (`WorkerCrashed`), not retried forever.

Every worker must have publishkit installed and see the workspace at the same path (a
cluster's shared filesystem).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from publishkit.errors import UsageError

KINDS = ("local", "dask")
CONNECT_TIMEOUT = "10s"

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class ExecutorSettings:
    kind: str = "local"  # "local": processes on this machine (--jobs); "dask": a cluster
    scheduler: str | None = None  # the Dask scheduler's address, e.g. tcp://head-node:8786

    @property
    def dask(self) -> bool:
        return self.kind == "dask"

    def overridden(self, kind: str | None, scheduler: str | None) -> ExecutorSettings:
        """These settings with the command line's --executor/--scheduler applied, checked."""
        if kind is not None and kind not in KINDS:
            raise UsageError(f"--executor {kind}: expected one of {', '.join(KINDS)}")
        if kind == "local" and scheduler:
            raise UsageError("--scheduler is only for --executor dask")
        if (kind or ("dask" if scheduler else self.kind)) == "local":  # --scheduler alone: dask
            return LOCAL
        address = scheduler or self.scheduler
        if not address:
            raise UsageError(
                "--executor dask needs the scheduler's address",
                hint="pass --scheduler tcp://HOST:8786, or set executor.scheduler in "
                "publishkit.yaml",
            )
        _distributed()  # refused now, before any stage runs, when dask is not installed
        return ExecutorSettings("dask", address)


LOCAL = ExecutorSettings()


class WorkerCrashed(Exception):
    """A task's worker died each time the task ran (e.g. a crash inside HDF5)."""


def on_dask(
    function: Callable[..., Result],
    items: Sequence[Item],
    scheduler: str,
    *args: Any,
) -> Iterator[tuple[Item, Result | WorkerCrashed]]:
    """(item, function(item, *args)) for every item, as each task completes on the cluster."""
    if not items:
        return
    distributed = _distributed()
    with _client(distributed, scheduler) as client:
        futures = {client.submit(function, item, *args, pure=False): item for item in items}
        for future in distributed.as_completed(futures, loop=client.loop):
            item = futures[future]
            try:
                yield item, future.result()
            except distributed.scheduler.KilledWorker as exc:
                yield item, WorkerCrashed(str(exc))


def _distributed() -> Any:
    """The dask.distributed module; a UsageError with the install command when it is absent."""
    try:
        import distributed
        import distributed.scheduler
    except ImportError:
        raise UsageError(
            "the dask executor needs dask.distributed, which is not installed",
            hint="pip install 'publishkit[dask]'",
        ) from None
    return distributed


def _client(distributed: Any, scheduler: str) -> Any:
    try:
        return distributed.Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"--scheduler {scheduler}: no Dask scheduler answered ({type(exc).__name__})",
            hint="check the address (tcp://HOST:PORT) and that the scheduler is running",
        ) from None
