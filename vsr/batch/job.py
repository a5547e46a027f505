"""One file's job: run a planned item (upscale or copy) and describe what happened."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from typing import Any, Callable

from vsr.batch.plan import BatchItem
from vsr.batch.pool import BackendPool
from vsr.batch.report import FileResult
from vsr.errors import VsrError, cause
from vsr.output import public_text

__all__ = ["run_item", "run_join", "immediate_result"]

log = logging.getLogger(__name__)

def _reason(item: BatchItem, text: str) -> str:
    """An error message without the input path it starts with (the report names the file already),
    naming destinations instead of their hidden partial files."""
    text = public_text(text)
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

    views: list[Any] = []
    own = pool is None
    pool = pool or BackendPool()

    def work(result: FileResult) -> None:
        if item.action == "copy":
            with atomic_output(item.dst, item.config.overwrite if item.config else False) as tmp:
                shutil.copyfile(item.source.path, tmp)
            result.frames = item.info.frames if item.info else 0
            result.reason = item.reason and f"copied: {item.reason}"
        elif item.action == "upscale":
            loaded = pool.get(item.config)
            views.append(loaded.backend)
            stats = upscale_video(item.source.input, item.dst, item.config, progress=progress, loaded=loaded,
                                  cancel=cancel)
            result.frames = stats.frames
            result.output_size = list(stats.output_size)
            result.input_size = list(stats.input_size)
            result.backend = stats.backend
            if stats.corrupt_packets:
                result.reason = (result.reason + "; " if result.reason else "") + \
                    f"{stats.corrupt_packets} corrupt video packet(s) skipped"
        else:
            raise ValueError(f"run_item cannot do a {item.action!r} item")

    try:
        return _attempt(item, work)
    finally:
        for view in views:
            pool.release(view)
        if own:
            pool.close()


def run_join(item: BatchItem, join: Callable[[], int], backend: str = "") -> FileResult:
    """The last step of an upscale item computed in segments (:mod:`vsr.batch.split`):
    ``join()`` verifies the parts and writes the output, returning its frames; never raises
    for a bad input or part. ``backend``: what computed the segments."""

    def work(result: FileResult) -> None:
        result.frames = join()
        result.backend = backend

    return _attempt(item, work)


def _attempt(item: BatchItem, work: Callable[[FileResult], None]) -> FileResult:
    """The item's result after ``work(result)`` fills it in: done, or failed with the reason."""
    result = _base_result(item)
    result.action = item.action
    t0 = time.perf_counter()
    try:
        work(result)
        result.status = "done"
        result.output_bytes = item.dst.stat().st_size
    except VsrError as e:
        result.status, result.reason = "failed", _reason(item, str(e))
    except Exception as e:  # noqa: BLE001 - a bug on one file never stops the batch
        log.debug("%s: internal error", item.name, exc_info=True)  # the traceback, with -vv
        result.status, result.internal = "failed", True
        detail = _reason(item, cause(e)) if str(e).strip() else ""
        result.reason = "internal error (a bug in vsr or a library: rerun with -vv for the traceback and please " \
                        "report it)" + (f": {detail}" if detail else "")
    result.seconds = time.perf_counter() - t0
    result.fps = result.frames / result.seconds if result.seconds and item.action == "upscale" else 0.0
    return result


def immediate_result(item: BatchItem) -> FileResult:
    r = _base_result(item)
    r.status = "skipped" if item.action == "skip" else "failed"
    if item.action == "skip" and item.dst is not None and item.dst.is_file():  # done in an earlier run
        r.output_bytes = item.dst.stat().st_size
        if item.output_size is not None and item.info is not None and \
                item.output_size != (item.info.width, item.info.height):
            r.output_size = list(item.output_size)
    return r
