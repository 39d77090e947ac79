"""Where per-file work runs: here, in processes on this machine, or on a Dask cluster.

Conversion, inspection and digests hand their per-file function and items to one `Executor`,
built once by `executor_for` from the workspace (`executor:` in publishkit.yaml), the command
line (`--executor dask --scheduler ADDRESS`, `--jobs N`) and the number of items. Each yields
(item, result) as tasks complete; a task whose worker died is a `WorkerCrashed` result, never a
lost or repeated item. Results come back to this process as each task completes, and
the stage records them in its state store here: workers only compute (and conversion writes its
NWB file atomically), so a task run again after its worker was lost neither duplicates nor
loses anything. Dask's scheduler re-runs the tasks of a lost worker on the others; a task that
takes down several workers in turn is reported as failed (`WorkerCrashed`), not retried forever.

Every worker must have publishkit installed and see the workspace at the same path (a
cluster's shared filesystem).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:  # multiprocessing is imported when worker processes start, not before: a
    from concurrent.futures import ProcessPoolExecutor  # command that starts none saves ~5 ms

import msgspec

from publishkit.errors import UsageError

KINDS = ("local", "dask")
CONNECT_TIMEOUT = "10s"
LIFELINE = "publishkit.workspace.lifeline"  # the forkserver and its workers die with publishkit

Item = TypeVar("Item")
Result = TypeVar("Result")


class ExecutorSettings(msgspec.Struct, frozen=True):
    """Where per-file work runs: local processes or a Dask cluster (its scheduler's address)."""

    kind: str = "local"  # "local": processes on this machine (--jobs); "dask": a cluster
    scheduler: str | None = None  # the Dask scheduler's address, e.g. tcp://head-node:8786

    @property
    def dask(self) -> bool:
        """The work runs on a Dask cluster."""
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


class Executor(Protocol):
    """Runs fn(item, *args) for each item and yields (item, result) as each completes; a
    result is a WorkerCrashed when the task took its worker down."""

    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[Any], *args: Any
    ) -> Generator[tuple[Any, Any], None, None]:
        """(item, fn(item, *args)) for each item as it completes; a WorkerCrashed result when the
        task took its worker down."""

    def cancel(self) -> None:
        """Start nothing more: the tasks not started are dropped."""


def executor_for(
    settings: ExecutorSettings,
    jobs: int,
    items: int,
    *,
    preload: Sequence[str] = (),
    in_workers: bool = False,
) -> Executor:
    """The executor for `items` tasks: the Dask cluster when the settings name one, else
    worker processes (forked warm from a forkserver that imported `preload`) when there is
    more than one job and task, or `in_workers` asks for them anyway (so that the caller's
    own work goes on meanwhile), else this process. Nothing to do: this process (no worker,
    no forkserver left importing after the caller is done)."""
    if items < 1:
        return SerialExecutor()
    if settings.dask and settings.scheduler:
        return DaskExecutor(settings.scheduler)
    if in_workers or (jobs > 1 and items > 1):
        return ProcessExecutor(max(1, min(jobs, items)), preload)
    return SerialExecutor()


class SerialExecutor:
    """Every task in this process, one after the other."""

    def __init__(self) -> None:
        self._cancelled = False

    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[Any], *args: Any
    ) -> Generator[tuple[Any, Any], None, None]:
        """(item, fn(item, *args)) for each item as it completes; a WorkerCrashed result when the
        task took its worker down."""
        for item in items:
            if self._cancelled:
                return
            yield item, fn(item, *args)

    def cancel(self) -> None:
        """Start nothing more: the tasks not started are dropped."""
        self._cancelled = True


class ThreadExecutor:
    """Tasks on threads of this process: for work that waits on the disk or releases the GIL
    (hashlib does on large updates), so that several files are read and hashed at once."""

    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._cancelled = False

    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[Any], *args: Any
    ) -> Generator[tuple[Any, Any], None, None]:
        """(item, fn(item, *args)) for each item as it completes."""
        pool = ThreadPoolExecutor(self._threads, thread_name_prefix="publishkit")
        try:
            futures = {pool.submit(fn, item, *args): item for item in items}
            for future in as_completed(futures):
                if self._cancelled:
                    return
                yield futures[future], future.result()
        finally:  # done, failed, Ctrl-C or closed by the caller: no task queued starts, and
            pool.shutdown(wait=True, cancel_futures=True)  # those running finish here

    def cancel(self) -> None:
        """Start nothing more: the tasks not started are dropped."""
        self._cancelled = True


class ProcessExecutor:
    """Worker processes forked from a warm forkserver. When a worker dies, the tasks not yet
    done run again one per pool, so that only the task that kills its worker is reported as
    crashed."""

    def __init__(self, jobs: int, preload: Sequence[str] = ()) -> None:
        self._jobs = jobs
        self._context = warm_forkserver(preload)
        self._pool: ProcessPoolExecutor | None = None
        self._cancelled = False

    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[Any], *args: Any
    ) -> Generator[tuple[Any, Any], None, None]:
        """(item, fn(item, *args)) for each item as it completes; a WorkerCrashed result when the
        task took its worker down."""
        from concurrent.futures.process import BrokenProcessPool

        remaining = dict(enumerate(items))
        try:
            with self._pool_of(self._jobs) as pool:
                self._pool = pool
                futures: dict[Future[Any], int] = {
                    pool.submit(fn, item, *args): index for index, item in remaining.items()
                }
                try:
                    for future in as_completed(futures):
                        if self._cancelled:
                            return
                        index = futures[future]
                        result = future.result()
                        yield remaining.pop(index), result
                except BaseException:  # Ctrl-C, or closed by the caller: no task queued starts,
                    pool.shutdown(wait=True, cancel_futures=True)  # those running finish here
                    raise
        except BrokenProcessPool:
            for item in list(remaining.values()):
                if self._cancelled:
                    return
                yield item, self._isolated(fn, item, args)

    def _isolated(self, fn: Callable[..., Any], item: Any, args: tuple[Any, ...]) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            with self._pool_of(1) as pool:
                return pool.submit(fn, item, *args).result()
        except BrokenProcessPool as exc:
            return WorkerCrashed(f"the worker process died ({exc})")

    def _pool_of(self, workers: int) -> ProcessPoolExecutor:
        """Workers forked from the forkserver, each quiet until set up (`lifeline`)."""
        from concurrent.futures import ProcessPoolExecutor

        from publishkit.workspace.lifeline import worker_started

        return ProcessPoolExecutor(workers, mp_context=self._context, initializer=worker_started)

    def cancel(self) -> None:
        """Start nothing more: the tasks not started are dropped."""
        self._cancelled = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class DaskExecutor:
    """One task per item on the cluster behind `scheduler`."""

    def __init__(self, scheduler: str) -> None:
        self._scheduler = scheduler
        self._cancelled = False

    def map_unordered(
        self, fn: Callable[..., Any], items: Sequence[Any], *args: Any
    ) -> Generator[tuple[Any, Any], None, None]:
        """(item, fn(item, *args)) for each item as it completes; a WorkerCrashed result when the
        task took its worker down."""
        for item, outcome in on_dask(fn, items, self._scheduler, *args):
            if self._cancelled:
                return
            yield item, outcome

    def cancel(self) -> None:
        """Start nothing more: the tasks not started are dropped."""
        self._cancelled = True


_MENDED: list[bool] = []  # pynwb's cache looked at, by this process's first forkserver


def warm_forkserver(preload: Sequence[str] = ()) -> Any:
    """The forkserver context workers fork from, importing `preload` once, in the background,
    from the moment it is started (at once when it is running already). Call it from the
    main thread: the forkserver dies with the thread that started it (`lifeline`)."""
    import multiprocessing
    from multiprocessing import forkserver

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([LIFELINE, *preload])  # the lifeline first: see its module
    if preload and not _MENDED:  # pynwb's cache, cut short by an earlier run, would end the
        from publishkit.upstream import mend_pynwb_cache  # preload (~50 ms, once a process)

        mend_pynwb_cache()
        _MENDED.append(True)
    forkserver.ensure_running()
    return context


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
