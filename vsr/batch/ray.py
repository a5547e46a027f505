"""Run a batch's files as Ray tasks (``vsr batch --ray [ADDRESS]``, ``pip install vsr-luma[ray]``).

The driver (the ``vsr batch`` process) plans, holds the OUTDIR lock, writes the journal
and the report; each file is one task that runs :func:`vsr.batch.job.run_item` on a worker,
except files longer than ``split_longer_than``, which run as segment tasks and a join task
(:mod:`vsr.batch.split`), so a few long films still use every worker.
Outputs go straight to the shared destination under a hidden partial name and are
renamed when complete, exactly as locally, so every node must see the inputs and OUTDIR
at the same absolute paths (a shared mount). A worker keeps its loaded backends between
the tasks it runs. A task whose worker dies (killed, out of memory, node lost) is run
again up to ``max_retries`` times; a task that fails on a bad input is not retried.
Per-file progress streams back through a small Ray actor: each task sends at most one
update per ``progress_interval`` seconds, and the driver forwards them to its reporter
(so ``--progress plain|json`` lines look the same as in a local batch).

Ray is imported only here and in :mod:`vsr.segments.ray`, only when asked for.
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vsr.batch.plan import BatchItem
from vsr.batch.report import FileResult
from vsr.batch.split import Split, join_task, plan_split
from vsr.segments.ray import ProgressSink, connect, fit_to_task, segment_task, task_error, throttled

if TYPE_CHECKING:
    from vsr.pipeline import Progress

__all__ = ["run_ray"]

log = logging.getLogger(__name__)

_POOL = None  # per worker process: the backends it has loaded


def _task(item: BatchItem, index: int = 0, sink: Any = None, interval: float = 1.0) -> FileResult:
    """Runs on a Ray worker: one file, with this worker's shared backends; progress (at most
    one update per ``interval`` seconds, and the last frame's) goes to ``sink``."""
    global _POOL
    from vsr.batch.job import run_item
    from vsr.batch.pool import BackendPool

    if _POOL is None:
        _POOL = BackendPool()
    progress, flush = throttled(sink, index, interval)
    if item.config is not None:
        item = replace(item, config=fit_to_task(item.config))
    result = run_item(item, _POOL, progress)
    flush()  # delivered before the result, so the driver sees it first
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
    split_longer_than: float | None = None,
    segments: int | str = "auto",
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
        split_longer_than: files longer than this many seconds run as segment tasks and a join
            (None: every file is one task).
        segments: how many segments a split file gets (a number, or ``"auto"``).
    """
    with connect(address) as ray:
        options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": max_retries, "retry_exceptions": False}
        whole = ray.remote(_task).options(**options)
        part = ray.remote(segment_task).options(**options)
        joiner = ray.remote(join_task).options(num_cpus=0, max_retries=max_retries, retry_exceptions=False)
        sink = ray.remote(ProgressSink).options(num_cpus=0).remote() if on_progress else None
        _Driver(ray, items, on_result, on_progress, sink, progress_interval).run(whole, part, joiner, split_longer_than,
                                                                                 segments)


class _Driver:
    """The wait loop: tasks of whole files, of segments and of joins, and their progress."""

    def __init__(self, ray: Any, items: list[tuple[int, BatchItem]], on_result: Callable[[int, FileResult], None],
                 on_progress: Callable[[int, Progress], None] | None, sink: Any, interval: float) -> None:
        self.ray, self.items, self.on_result, self.on_progress = ray, dict(items), on_result, on_progress
        self.sink, self.interval = sink, interval
        self.pending: dict[Any, tuple[str, int, int]] = {}  # ref -> (whole|segment|join, file index, segment)
        self.splits: dict[int, Split] = {}
        self.ended: set[int] = set()

    def run(self, whole: Any, part: Any, joiner: Any, longer_than: float | None, segments: int | str) -> None:
        self.joiner = joiner
        try:
            for index, item in self.items.items():
                item = _absolute(item)
                split = plan_split(item, longer_than, segments,
                                   None if self.on_progress is None else partial(self.on_progress, index))
                if split is None:
                    self.pending[whole.remote(item, index, self.sink, self.interval)] = ("whole", index, 0)
                    continue
                self.splits[index] = split
                args = (str(item.source.path), str(item.dst), split.config)
                for k in split.todo:
                    ref = part.remote(*args, k, split.print_, self.sink, (index, k), self.interval)
                    self.pending[ref] = ("segment", index, k)
                if not split.todo:
                    self._join(index)
            while self.pending:
                done, _ = self.ray.wait(list(self.pending), num_returns=len(self.pending),
                                        timeout=min(1.0, self.interval))
                self._forward_progress()
                for ref in done:
                    self._ended(ref, *self.pending.pop(ref))
        except BaseException:
            for ref in self.pending:
                with contextlib.suppress(Exception):  # best effort while stopping
                    self.ray.cancel(ref, force=True)
            raise

    def _join(self, index: int) -> None:
        split = self.splits[index]
        self.pending[self.joiner.remote(split.item, split.config, split.backend)] = ("join", index, 0)

    def _forward_progress(self) -> None:
        if self.sink is None:
            return
        for key, p in self.ray.get(self.sink.drain.remote()):
            index, k = key if isinstance(key, tuple) else (key, None)
            if index in self.ended:  # an update can arrive after its task's result
                continue
            if k is None:
                self.on_progress(index, p)
            elif k in self.splits[index].left:
                self.splits[index].progress(k, p)  # reported over the whole file, through on_progress

    def _ended(self, ref: Any, kind: str, index: int, k: int) -> None:
        item = self.items[index]
        try:
            value = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:  # worker died more than max_retries times, node lost ...
            what = {"whole": "its task", "segment": f"segment {k}", "join": "the join of its segments"}[kind]
            reason = str(task_error(self.ray, e, what))
            if kind == "segment":
                self._finish(index, self.splits[index].failed(reason))
            else:
                self._finish(index, FileResult(input=item.name, output=str(item.dst), status="failed", reason=reason,
                                               action=item.action))
            return
        if kind == "segment":
            if index not in self.ended and self.splits[index].segment_done(k, *value):
                self._join(index)
            return
        self._finish(index, self.splits[index].result(value) if kind == "join" else value)

    def _finish(self, index: int, result: FileResult) -> None:
        if index in self.ended:  # a file whose segment failed already has its result
            return
        item = self.items[index]
        result.input = item.name
        result.output = str(item.dst) if item.dst is not None else None
        self.ended.add(index)
        self.on_result(index, result)
