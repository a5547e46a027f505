"""Many files: plan, skip what is done, run N jobs on one shared backend, journal, report.

::

    inputs ─► find_sources ─► plan_items (probe, target, names) ─► plan_batch (skip complete outputs)
                                                                            │
        OUTDIR lock, stale partials removed, journal ◄── run_batch ◄────────┘
                                                            │ jobs threads (one loaded backend per
                                                            │ model scale, shared) or Ray tasks
                                                            ▼
                                                      FileResult per input ─► report JSON

Each job has its own ``Upscaler`` (and, on CUDA, its own copy and compute streams) over
one backend per model shared by every job (:mod:`vsr.batch_pool`); the results and the
report are :mod:`vsr.batch_report`.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

from vsr.batch_pool import BackendPool
from vsr.batch_report import FileResult, summarize, summary_lines, write_report
from vsr.batch_plan import DEFAULT_TEMPLATE, BatchItem, check_template, find_sources, plan_items
from vsr.batch_progress import BatchReporter, NullReporter
from vsr.batch_state import (JOURNAL_NAME, Journal, OutdirLock, check_complete, file_stamp, read_journal,
                             remove_stale_partials)
from vsr.config import UpscaleConfig
from vsr.errors import ModelError, UsageError, VsrError
from vsr.target import Target, parse_target

__all__ = ["FileResult", "BackendPool", "upscale_batch", "plan_batch", "run_batch", "run_item", "available_scales",
           "write_report", "summarize", "summary_lines"]

log = logging.getLogger(__name__)

# -- planning ---------------------------------------------------------------------------------


def _merge(config: UpscaleConfig | None, options: dict[str, Any]) -> UpscaleConfig:
    from vsr.pipeline import _merge as merge_options

    return merge_options(config or UpscaleConfig(), options)


def available_scales(model: str) -> list[int]:
    """Scales with shipped weights for ``model``, ascending.

    Raises:
        ModelError: unknown model, or none shipped.
    """
    from vsr.models.weights import list_models

    scales = sorted({s.scale for s in list_models() if s.name == model})
    if not scales:
        from vsr.models.registry import list_architectures

        if model not in list_architectures():
            raise ModelError(f"unknown model {model!r}; choose one of: {', '.join(list_architectures())}")
        raise ModelError(f"no shipped weights for {model}")
    return scales


def plan_batch(
    inputs: Iterable[str | os.PathLike],
    outdir: str | os.PathLike,
    config: UpscaleConfig | None = None,
    *,
    target: Target | str | None = None,
    at_target: str = "skip",
    template: str = DEFAULT_TEMPLATE,
    container: str | None = None,
    **options: Any,
) -> list[BatchItem]:
    """What :func:`upscale_batch` would do, without doing it (``vsr batch --dry-run``).

    Existing complete outputs become ``skip`` items (see :func:`vsr.batch_state.check_complete`);
    an existing output that is not complete is a ``fail`` item unless ``overwrite``.
    Arguments are those of :func:`upscale_batch`.

    Raises:
        UsageError: bad target, template or at_target; ModelError: unknown model.
    """
    cfg = _merge(config, options)
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"{outdir}: is a file; -d needs a folder")
    if isinstance(target, str):
        try:
            target = parse_target(target)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if at_target not in ("skip", "copy"):
        raise UsageError(f"at_target must be skip or copy, not {at_target!r}")
    check_template(template)
    if container is not None:
        container = container.lower().lstrip(".")
    scales = available_scales(cfg.model.name) if target is not None else [cfg.model.scale]
    inputs = list(inputs)
    for arg in inputs:
        if Path(arg).is_dir() and outdir.exists() and os.path.samefile(arg, outdir):
            raise UsageError(f"{arg}: OUTDIR is this input folder; outputs would be taken as inputs on the next "
                             "run: choose another -d")
    sources, ignored = find_sources(inputs, outdir)
    if ignored:
        log.info("passed over %d file(s) that are not video", ignored)
    items = plan_items(sources, outdir, cfg, target=target, at_target=at_target, template=template,
                       container=container, scales=scales)
    journal = read_journal(outdir / JOURNAL_NAME)
    out = []
    for item in items:
        if item.action in ("upscale", "copy") and item.dst is not None and item.dst.exists() and not cfg.overwrite:
            if item.dst.is_dir():
                item = replace(item, action="fail", reason=f"{item.dst} is a folder")
            else:
                info = item.info
                expected = info.frames if info is not None and info.frames_exact else None
                complete, why = check_complete(item.source.path, item.dst, expected, journal,
                                               copy=item.action == "copy")
                if complete:
                    item = replace(item, action="skip", reason=why, done_before=True)
                else:
                    item = replace(item, action="fail",
                                   reason=f"{item.dst} exists and is not a complete output of this input ({why}); "
                                          "remove it or use --overwrite")
        out.append(item)
    return out


# -- running ----------------------------------------------------------------------------------


def _reason(item: BatchItem, text: str) -> str:
    """An error message without the input path it starts with (the report names the file already)."""
    for prefix in {str(item.source.path), item.name}:
        if text.startswith(prefix + ": "):
            return text[len(prefix) + 2:]
    return text


def _base_result(item: BatchItem) -> FileResult:
    info = item.info
    r = FileResult(input=item.name, output=str(item.dst) if item.dst else None, status="failed",
                   reason=_reason(item, item.reason))
    if info is not None:
        r.input_frames = info.frames
        r.duration = info.duration
        r.frame_rate = float(info.frame_rate) if info.frame_rate else None
        r.input_size = [info.width, info.height]
        r.input_bytes = info.size_bytes
    if item.config is not None and item.action == "upscale":
        r.model, r.scale = item.config.model.name, item.config.model.scale
    if item.output_size is not None and item.action in ("upscale", "copy"):
        r.output_size = list(item.output_size)
    return r


def run_item(item: BatchItem, pool: BackendPool | None = None,
             progress: Callable[[Any], None] | None = None, cancel: threading.Event | None = None) -> FileResult:
    """Do one planned item (upscale or copy) and say how it went; never raises for a bad input.

    Args:
        pool: where to get the shared backend (None: a private one for this call).
        progress: ``upscale_video``'s per-frame callback.
        cancel: set to stop the job.
    """
    from vsr.output import atomic_output
    from vsr.pipeline import upscale_video

    result = _base_result(item)
    result.action = item.action
    t0 = time.perf_counter()
    view = None
    own = pool is None
    pool = pool or BackendPool()
    try:
        if item.action == "copy":
            with atomic_output(item.dst, item.config.overwrite if item.config else False) as tmp:
                shutil.copyfile(item.source.path, tmp)
            result.frames = item.info.frames if item.info else 0
            result.reason = item.reason and f"copied: {item.reason}"
        elif item.action == "upscale":
            view, radius = pool.get(item.config)
            stats = upscale_video(item.source.path, item.dst, item.config, progress=progress,
                                  backend=(view, radius), cancel=cancel)
            result.frames = stats.frames
            result.output_size = list(stats.output_size)
            result.input_size = list(stats.input_size)
            result.backend = stats.backend
            if stats.corrupt_packets:
                result.reason = (result.reason + "; " if result.reason else "") + \
                    f"{stats.corrupt_packets} corrupt video packet(s) skipped"
        else:
            raise ValueError(f"run_item cannot do a {item.action!r} item")
        result.status = "done"
        result.output_bytes = item.dst.stat().st_size
    except VsrError as e:
        result.status, result.reason = "failed", _reason(item, str(e))
    except Exception as e:  # noqa: BLE001 - a bug on one file never stops the batch
        log.error("internal error on %s (a bug in vsr or a library; please report it)", item.name, exc_info=True)
        result.status, result.internal = "failed", True
        result.reason = f"internal error: {type(e).__name__}: {_reason(item, str(e))}"
    finally:
        if view is not None:
            pool.release(view)
        if own:
            pool.close()
    result.seconds = time.perf_counter() - t0
    result.fps = result.frames / result.seconds if result.seconds and item.action == "upscale" else 0.0
    return result


def _immediate(item: BatchItem) -> FileResult:
    r = _base_result(item)
    r.status = "skipped" if item.action == "skip" else "failed"
    if item.action == "skip" and item.dst is not None and item.dst.is_file():  # done in an earlier run
        r.output_bytes = item.dst.stat().st_size
        if item.output_size is not None and item.info is not None and \
                item.output_size != (item.info.width, item.info.height):
            r.output_size = list(item.output_size)
    return r


class _Recorder:
    """Journal and reporter updates for finished files (thread-safe)."""

    def __init__(self, journal: Journal, reporter: BatchReporter) -> None:
        self.journal, self.reporter = journal, reporter

    def started(self, item: BatchItem) -> None:
        self.journal.append("start", input=item.name, output=str(item.dst.resolve()), action=item.action)
        self.reporter.file_started(item.name, _expected_frames(item))

    def finished(self, item: BatchItem, result: FileResult) -> None:
        fields: dict[str, Any] = {"input": item.name, "output": str(item.dst.resolve()) if item.dst else None}
        if item.done_before and "journal" not in result.reason:
            # complete, found by counting its frames (journal lost, or killed before the journal
            # line was written): journal it so later runs need not open it again
            try:
                self.journal.append("done", **fields, output_stamp=file_stamp(item.dst),
                                    input_stamp=file_stamp(item.source.path), verified=True)
            except OSError:
                pass
        if result.status == "done":
            try:
                fields.update(output_stamp=file_stamp(item.dst), input_stamp=file_stamp(item.source.path),
                              frames=result.frames)
            except OSError as e:  # the output vanished under us: not done after all
                result.status, result.reason = "failed", f"output missing after the job ({e})"
        if result.status == "failed":
            fields["reason"] = result.reason
        elif result.status == "skipped":
            fields["reason"] = result.reason
        self.journal.append({"done": "done", "skipped": "skipped"}.get(result.status, "failed"), **fields)
        self.reporter.file_finished(result)


def _expected_frames(item: BatchItem) -> int:
    """Frames an item adds to the batch's progress: those it upscales (copies count none)."""
    return item.info.frames if item.info is not None and item.action == "upscale" else 0


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
        progress: a :class:`~vsr.batch_progress.BatchReporter`.
        ray: run each file as a Ray task: True for a local Ray (or the one already
            initialised), or a cluster address. See :mod:`vsr.batch_ray`.
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
                get_spec(cfg.name, cfg.scale)
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
                    results[i] = _immediate(it)
                    rec.finished(it, results[i])
            if ray:
                from vsr.batch_ray import run_ray

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
                         replace(_immediate(items[i]), reason="interrupted before it finished" if interrupted
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
            return replace(_immediate(item), reason="interrupted before it ran")
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


def upscale_batch(
    inputs: Iterable[str | os.PathLike] | str | os.PathLike,
    outdir: str | os.PathLike,
    config: UpscaleConfig | None = None,
    *,
    target: Target | str | None = None,
    at_target: str = "skip",
    template: str = DEFAULT_TEMPLATE,
    container: str | None = None,
    jobs: int = 1,
    progress: BatchReporter | None = None,
    report: str | os.PathLike | None = None,
    ray: bool | str | None = None,
    ray_options: dict[str, Any] | None = None,
    **options: Any,
) -> list[FileResult]:
    """Upscale many videos into ``outdir``; resumable, one bad file never stops the rest.

    Args:
        inputs: files, folders (searched recursively; videos recognised by probing) and
            glob patterns. Outputs mirror the folder layout under ``outdir``.
        outdir: where outputs, the journal and the lock go.
        config: as for :func:`vsr.upscale_video`; keyword ``options`` override its fields
            (``model``, ``scale``, ``backend``, ``device``, ``codec``, ``crf``, ``overwrite`` ...).
        target: ``"2160p"``, ``"1080p"``, ``"WxH"`` ... instead of a fixed scale (see :mod:`vsr.target`).
        at_target: files already at or above ``target``: ``skip`` (default) or ``copy``.
        template: output file name, with ``{stem}``, ``{name}``, ``{ext}``, ``{model}``,
            ``{scale}``, ``{width}``, ``{height}``, ``{target}``, ``{root}``.
        container: output container suffix (``mkv``, ``mp4`` ...); default: the input's.
        jobs: files at once, sharing one loaded backend.
        progress: a reporter from :func:`vsr.batch_progress.make_batch_reporter`.
        report: write a JSON report there.
        ray: run on Ray (True: local or already initialised; a string: cluster address).
        ray_options: ``num_cpus``, ``num_gpus``, ``max_retries`` per task.

    Returns:
        One :class:`FileResult` per input file, in input order.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    cfg = _merge(config, options)
    items = plan_batch(list(inputs), outdir, cfg, target=target, at_target=at_target, template=template,
                       container=container)
    return run_batch(items, outdir, jobs=jobs, progress=progress, report=report, ray=ray, ray_options=ray_options)
