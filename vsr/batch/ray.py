"""Run a batch's files as Ray tasks (``vsr batch --ray [ADDRESS]``, ``pip install vsr-luma[ray]``).

The driver (the ``vsr batch`` process) plans, holds the OUTDIR lock, writes the journal
and the report; each file is one task that runs :func:`vsr.batch.job.run_item` on a worker.
Outputs go straight to the shared destination under a hidden partial name and are
renamed when complete, exactly as locally, so every node must see the inputs and OUTDIR
at the same absolute paths (a shared mount). A worker keeps its loaded backends between
the tasks it runs. A task whose worker dies (killed, out of memory, node lost) is run
again up to ``max_retries`` times; a task that fails on a bad input is not retried.
Per-file progress streams back through a small Ray actor: each task sends at most one
update per ``progress_interval`` seconds, and the driver forwards them to its reporter
(so ``--progress plain|json`` lines look the same as in a local batch).

Ray is imported only here, only when asked for.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vsr.batch.plan import BatchItem
from vsr.batch.report import FileResult
from vsr.errors import BackendError, cause

if TYPE_CHECKING:
    from vsr.pipeline import Progress

__all__ = ["run_ray"]

log = logging.getLogger(__name__)

_POOL = None  # per worker process: the backends it has loaded


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendError("--ray needs Ray: pip install 'vsr-luma[ray]' (or pip install 'ray[default]')") from None
    return ray


class _ProgressSink:
    """A Ray actor holding progress updates until the driver collects them."""

    def __init__(self) -> None:
        self._updates: list[tuple[int, Progress]] = []

    def put(self, index: int, progress: Progress) -> None:
        self._updates.append((index, progress))

    def drain(self) -> list[tuple[int, Progress]]:
        updates, self._updates = self._updates, []
        return updates


def _task(item: BatchItem, index: int = 0, sink: Any = None, interval: float = 1.0) -> FileResult:
    """Runs on a Ray worker: one file, with this worker's shared backends; progress (at most
    one update per ``interval`` seconds, and the last frame's) goes to ``sink``."""
    global _POOL
    from vsr.batch.job import run_item
    from vsr.batch.pool import BackendPool

    if _POOL is None:
        _POOL = BackendPool()
    last: list[Any] = [float("-inf"), None]  # time of the last update, its call

    def progress(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= interval or (p.total and p.frames >= p.total):
            last[:] = [now, sink.put.remote(index, p)]  # not waited for: the job never stalls on it

    result = run_item(item, _POOL, progress if sink is not None else None)
    if last[1] is not None:  # delivered before the result, so the driver sees it first
        try:
            _import_ray().get(last[1], timeout=10)
        except Exception as e:  # noqa: BLE001 - progress is best effort, the result is not
            log.debug("last progress update not delivered: %s", e)
    return result


def _absolute(item: BatchItem) -> BatchItem:
    """The item with absolute paths (workers do not run in the driver's working directory)."""
    src = item.source if item.source.url else replace(item.source, path=Path(item.source.path).resolve())
    return replace(item, source=src, dst=Path(item.dst).resolve() if item.dst is not None else None)


def run_ray(
    items: list[tuple[int, BatchItem]],
    on_result: Callable[[int, FileResult], None],
    *,
    on_progress: Callable[[int, Progress], None] | None = None,
    progress_interval: float = 1.0,
    address: str | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    max_retries: int = 3,
) -> None:
    """Run ``(index, BatchItem)`` pairs as Ray tasks; ``on_result(index, FileResult)`` as each ends.

    Args:
        on_progress: ``on_progress(index, Progress)`` for running files, in the calling
            thread, never after that file's ``on_result``.
        progress_interval: seconds between a task's progress updates.
        address: Ray cluster to join (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``);
            None: the Ray already initialised in this process, else a new local one.
        num_cpus, num_gpus: resources each task asks for (fractions allowed: ``num_gpus=0.25``
            runs four files per GPU).
        max_retries: how many times a task is run again when its worker dies.
    """
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"address": address} if address else {"include_dashboard": False}
        ray.init(**kwargs)
        started = True
    elif address:
        log.info("Ray is already initialised in this process; using it, not %s", address)

    remote = ray.remote(_task).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                                       retry_exceptions=False)
    sink = ray.remote(_ProgressSink).options(num_cpus=0).remote() if on_progress else None
    ended: set[int] = set()

    def forward_progress() -> None:
        if sink is not None:
            for index, p in ray.get(sink.drain.remote()):
                if index not in ended:  # an update can arrive after its task's result
                    on_progress(index, p)

    pending: dict[Any, tuple[int, BatchItem]] = {}
    try:
        for index, item in items:
            pending[remote.remote(_absolute(item), index, sink, progress_interval)] = (index, item)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=min(1.0, progress_interval))
            forward_progress()
            for ref in done:
                index, item = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:  # worker died more than max_retries times, node lost ...
                    result = FileResult(input=item.name, output=str(item.dst), status="failed",
                                        reason=f"Ray task failed: {cause(e)}",
                                        action=item.action)
                result.input = item.name
                result.output = str(item.dst) if item.dst is not None else None
                ended.add(index)
                on_result(index, result)
    except BaseException:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while stopping
                pass
        raise
    finally:
        if started:
            ray.shutdown()
