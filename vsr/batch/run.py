"""Carry out a batch plan: OUTDIR lock, stale partials, journal, jobs in threads or on Ray, report.

::

    plan (vsr.batch.api.plan_batch) ─► run_batch ─► OUTDIR lock, stale partials removed, journal
                                          │ jobs threads (one loaded backend per model scale,
                                          │ shared: vsr.batch.pool) or Ray tasks (vsr.batch.ray)
                                          ▼
                                    FileResult per input (vsr.batch.job) ─► report JSON

Each job has its own ``Upscaler`` (and, on CUDA, its own copy and compute streams) over
one backend per model shared by every job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from vsr.batch.job import immediate_result, run_item
from vsr.batch.plan import BatchItem
from vsr.batch.pool import BackendPool
from vsr.batch.progress import BatchReporter, NullReporter
from vsr.batch.report import FileResult, write_report
from vsr.batch.state import JOURNAL_NAME, Journal, OutdirLock, file_stamp, input_stamp
from vsr.output import remove_stale_partials
from vsr.errors import UsageError, cause

__all__ = ["run_batch"]

log = logging.getLogger(__name__)

class _Recorder:
    """Journal and reporter updates for finished files (thread-safe)."""

    def __init__(self, journal: Journal, reporter: BatchReporter) -> None:
        self.journal, self.reporter = journal, reporter

    def started(self, item: BatchItem) -> None:
        self.journal.append("start", input=item.name, output=str(item.dst.resolve()), action=item.action)
        self.reporter.file_started(item.name, _expected_frames(item))

    def finished(self, item: BatchItem, result: FileResult) -> None:
        fields: dict[str, Any] = {"input": item.name, "output": str(item.dst.resolve()) if item.dst else None}
        if item.config is not None and item.config.range is not None:  # a changed range is not done
            fields["range"] = str(item.config.range)
        if item.done_before and "journal" not in result.reason:
            # complete, found by counting its frames (journal lost, or killed before the journal
            # line was written): journal it so later runs need not open it again
            try:
                self.journal.append("done", **fields, output_stamp=file_stamp(item.dst),
                                    input_stamp=input_stamp(item.source.input), verified=True)
            except OSError:
                pass
        if result.status == "done":
            try:
                fields.update(output_stamp=file_stamp(item.dst), input_stamp=input_stamp(item.source.input),
                              frames=result.frames)
            except OSError as e:  # the output vanished under us: not done after all
                result.status, result.reason = "failed", f"output missing after the job ({cause(e)})"
        if result.status in ("failed", "skipped"):
            fields["reason"] = result.reason
        self.journal.append({"done": "done", "skipped": "skipped"}.get(result.status, "failed"), **fields)
        self.reporter.file_finished(result)


def _expected_frames(item: BatchItem) -> int:
    """Frames an item adds to the batch's progress: those it upscales (copies count none)."""
    if item.info is None or item.action != "upscale":
        return 0
    rng = item.config.range if item.config is not None else None
    return item.info.frames if rng is None else rng.frames_in(item.info.frames, item.info.frame_rate,
                                                              item.info.duration)


def run_batch(
    items: list[BatchItem],
    outdir: str | os.PathLike,
    *,
    jobs: int = 1,
    progress: BatchReporter | None = None,
    report: str | os.PathLike | None = None,
    ray: bool | str | None = None,
    ray_options: dict[str, Any] | None = None,
    pool: BackendPool | None = None,
) -> list[FileResult]:
    """Carry out a plan from :func:`plan_batch`; returns one result per item, in order.

    Holds ``OUTDIR/.vsr-batch.lock`` while it runs, removes the stale partial files of a
    killed earlier run, journals every file to ``OUTDIR/.vsr-batch.jsonl``, and writes
    ``report`` (JSON) at the end, also when interrupted.

    Args:
        jobs: files processed at once (threads sharing one backend per model scale).
        progress: a :class:`~vsr.batch.progress.BatchReporter`.
        ray: run each file as a Ray task: True for a local Ray (or the one already
            initialised), or a cluster address. See :mod:`vsr.batch.ray`.
        ray_options: ``num_cpus``, ``num_gpus``, ``max_retries`` per task.
        pool: backends to share (default: a new pool, closed at the end).

    Raises:
        UsageError: ``jobs`` < 1, or another batch holds OUTDIR.
        VsrError: the model or backend cannot be loaded (before any file is touched).
    """
    if jobs < 1:
        raise UsageError(f"jobs must be at least 1, not {jobs}")
    outdir = Path(outdir)
    reporter = progress or NullReporter()
    t_start = time.time()
    results: list[FileResult | None] = [None] * len(items)
    todo = [i for i, it in enumerate(items) if it.action in ("upscale", "copy")]
    own_pool = pool is None
    pool = pool or BackendPool()
    interrupted = False
    with OutdirLock(outdir):
        removed = remove_stale_partials([it.dst for it in items if it.dst is not None])
        for f in removed:
            log.info("removed %s, left by an interrupted run", f)
        if ray:  # the workers load the models; check here at least that they exist
            from vsr.models.weights import get_spec

            for cfg in {items[i].config.model for i in todo if items[i].action == "upscale"}:
                get_spec(cfg.name, cfg.scale, cfg.weights)
        else:  # load each model once, before touching any file: a bad backend is one error
            try:
                for i in todo:
                    if items[i].action == "upscale":
                        pool.release(pool.get(items[i].config)[0])
            except BaseException:
                if own_pool:
                    pool.close()
                raise
        journal = Journal(outdir / JOURNAL_NAME)
        rec = _Recorder(journal, reporter)
        pending = set(todo)
        try:
            reporter.begin(len(items), sum(_expected_frames(items[i]) for i in todo))
            for i, it in enumerate(items):
                if i not in pending:
                    results[i] = immediate_result(it)
                    rec.finished(it, results[i])
            if ray:
                from vsr.batch.ray import run_ray

                def on_result(i: int, r: FileResult) -> None:
                    results[i] = r
                    rec.finished(items[i], r)

                running: set[int] = set()

                def on_progress(i: int, p: Any) -> None:
                    if i not in running:
                        running.add(i)
                        rec.reporter.file_started(items[i].name, _expected_frames(items[i]))
                    rec.reporter.file_progress(items[i].name, p)

                for i in todo:
                    journal.append("start", input=items[i].name, output=str(items[i].dst.resolve()),
                                   action=items[i].action)
                run_ray([(i, items[i]) for i in todo], on_result, on_progress=on_progress,
                        address=None if ray is True else str(ray), **(ray_options or {}))
                remove_stale_partials([items[i].dst for i in todo], keep_live=False)
            else:
                _run_local(items, todo, results, rec, pool, jobs)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            reporter.close()
            journal.close()
            if own_pool:
                pool.close()
            if report is not None:
                final = [r if r is not None else
                         replace(immediate_result(items[i]), reason="interrupted before it finished" if interrupted
                                 else "not run")
                         for i, r in enumerate(results)]
                write_report(report, final, outdir, t_start, interrupted)
    return [r for r in results if r is not None]


def _run_local(items: list[BatchItem], todo: list[int], results: list, rec: _Recorder, pool: BackendPool,
               jobs: int) -> None:
    cancel = threading.Event()

    def job(i: int) -> FileResult:
        item = items[i]
        if cancel.is_set():
            return replace(immediate_result(item), reason="interrupted before it ran")
        rec.started(item)
        cb = (lambda p, name=item.name: rec.reporter.file_progress(name, p))
        r = run_item(item, pool, cb, cancel)
        if cancel.is_set() and r.status == "failed":
            return r  # cancelled: not journaled as a failure of the input
        results[i] = r
        rec.finished(item, r)
        return r

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="vsr-batch") as ex:
        futures = {ex.submit(job, i) for i in todo}
        try:
            while futures:
                _, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
        except BaseException:
            cancel.set()
            for f in futures:
                f.cancel()
            raise
