"""Segments as Ray tasks (``vsr upscale IN -o OUT --segments N --ray [ADDRESS]``), and the
Ray plumbing :mod:`vsr.batch.ray` shares: importing Ray, joining or starting a cluster, a
progress sink actor.

The driver (the ``vsr upscale`` process) plans (the keyframe scan) and opens the work folder
beside the output (:func:`vsr.segments.run.prepare`); each unfinished segment is one task
that runs :func:`vsr.segments.part.run_part` on a worker into its part file in that folder;
the driver then verifies every part and joins (:func:`vsr.segments.join.join_parts`). Every
node must see the input and the output's folder at the same absolute paths (a shared mount).

A task whose worker dies (killed, out of memory, node lost) is run again by Ray, up to
``max_retries`` times. The rerun computes the segment afresh: a dead worker's partial part
is never used, since only a part with its journal record counts (:mod:`vsr.segments.work`),
and a retry whose part was finished before the worker died keeps it. A task that fails on a
bad input is not retried; a failed segment fails the run in one line that names it, and the
finished parts stay for a rerun of the same command, which computes only the rest.

Each worker process keeps the backends it loaded for the segments it runs next. Ray is
imported only here and in :mod:`vsr.batch.ray`, only when asked for.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from vsr.errors import BackendError, MediaError, VsrError, cause
from vsr.segments.work import WorkDir

if TYPE_CHECKING:
    from vsr.config import UpscaleConfig
    from vsr.pipeline import Progress

__all__ = ["import_ray", "connect", "ProgressSink", "throttled", "fit_to_task", "segment_task", "task_error",
           "ray_runner"]

log = logging.getLogger(__name__)

_LOADED: dict[tuple, Any] = {}  # per worker process: (model, backend config) -> LoadedBackend


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        BackendError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise BackendError("--ray needs Ray: pip install 'vsr-luma[ray]' (or pip install 'ray[default]')") from None
    return ray


@contextlib.contextmanager
def connect(address: str | None) -> Iterator[Any]:
    """Ray, initialised for the block: the one already initialised in this process, else the
    cluster at ``address`` (``auto``, ``HOST:PORT``, ``ray://HOST:10001``), else a new local
    one; what this call started it shuts down at the end."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        ray.init(**({"address": address} if address else {"include_dashboard": False}))
        started = True
    elif address:
        log.info("Ray is already initialised in this process; using it, not %s", address)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


class ProgressSink:
    """A Ray actor holding progress updates (``(key, Progress)``) until the driver collects them."""

    def __init__(self) -> None:
        self._updates: list[tuple[Any, Progress]] = []

    def put(self, key: Any, progress: Progress) -> None:
        self._updates.append((key, progress))

    def drain(self) -> list[tuple[Any, Progress]]:
        updates, self._updates = self._updates, []
        return updates


def throttled(sink: Any, key: Any, interval: float) -> tuple[Callable[[Progress], None] | None, Callable[[], None]]:
    """``(progress callback, flush)`` for a task: the callback sends ``sink`` at most one update
    per ``interval`` seconds (and the last frame's), never waiting for it; ``flush()`` waits
    (at most 10 s) until the last one is delivered, so the driver sees it before the result.
    Both do nothing without a sink."""
    if sink is None:
        return None, lambda: None
    last: list[Any] = [float("-inf"), None]  # time of the last update, its call

    def progress(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= interval or (p.total and p.frames >= p.total):
            last[:] = [now, sink.put.remote(key, p)]

    def flush() -> None:
        if last[1] is not None:
            try:
                import_ray().get(last[1], timeout=10)
            except Exception as e:  # noqa: BLE001 - progress is best effort, the result is not
                log.debug("last progress update not delivered: %s", e)

    return progress, flush


def fit_to_task(cfg: UpscaleConfig) -> UpscaleConfig:
    """``cfg`` for a Ray task: automatic CPU parallelism (no ``--workers``/``--threads``) sized
    to the CPUs Ray gave the task. Ray pins no cores, so without this every task on a node
    would size its inference threads for the whole node (16 tasks of 4 CPUs on a 64-core node:
    64 threads each). Tasks with a GPU keep the automatic choice."""
    from dataclasses import replace

    from vsr.devices import cpu_parallelism

    backend = cfg.backend
    if backend.workers or backend.threads:
        return cfg
    assigned = import_ray().get_runtime_context().get_assigned_resources()
    cpus = int(assigned.get("CPU", 0))
    if assigned.get("GPU") or cpus < 1:
        return cfg
    workers, threads = cpu_parallelism(cores=cpus)
    return replace(cfg, backend=replace(backend, workers=workers, threads=threads))


def _loaded(cfg: UpscaleConfig) -> Any:
    """This worker's backend for ``cfg``, loaded on its first segment (one task runs at a time)."""
    from vsr.pipeline import load_backend

    key = (cfg.model, cfg.backend)
    if key not in _LOADED:
        _LOADED[key] = load_backend(cfg.model, cfg.backend)
    return _LOADED[key]


def segment_task(src: str, dst: str, cfg: UpscaleConfig, index: int, print_: str, sink: Any = None,
                 key: Any = None, interval: float = 1.0) -> tuple[int, Any]:
    """Runs on a Ray worker: segment ``index`` of the plan in ``dst``'s work folder.

    Args:
        src, dst: absolute paths of the input and the final output.
        cfg: the run's options, weights resolved (:func:`vsr.segments.run.prepare`).
        print_: the plan's fingerprint; the task refuses a work folder planned otherwise.
        sink, key, interval: progress updates go to the :class:`ProgressSink` ``sink`` as
            ``(key, Progress)``, frames counted inside the segment.

    Returns:
        ``(frames in the part, its VideoStats)``; the stats are None when the part was already
        finished (a retry after the worker died between the part's record and the result).
    """
    from vsr.segments.part import run_part

    work = WorkDir(Path(dst))
    saved = work.read_plan()
    if saved is None or saved[1] != print_:
        raise MediaError(f"{Path(dst).name}: its segment plan in {work.path} was removed or replaced while "
                         f"segment {index} waited; run the command again")
    if work.problem(index, print_) is None:
        return work.record(index).frames, None
    cfg = fit_to_task(cfg)
    progress, flush = throttled(sink, key, interval)
    stats: list[Any] = []
    rec = run_part(Path(src), work, saved[0], index, cfg, print_, progress=progress, loaded=_loaded(cfg),
                   on_stats=stats.append)
    flush()
    return rec.frames, stats[0]


def task_error(ray: Any, e: BaseException, what: str) -> VsrError:
    """The one-line error for a Ray task that failed: a bad input's own message, else what Ray
    says (a worker that died more than ``max_retries`` times, a lost node), naming ``what``."""
    inner = getattr(e, "cause", None)
    if isinstance(inner, VsrError):
        return inner
    if isinstance(e, ray.exceptions.RayTaskError):
        return BackendError(f"{what} failed on its Ray worker: {cause(inner or e)}")
    return BackendError(f"{what} could not be computed on Ray: {cause(e)}")


def ray_runner(address: str | None = None, *, num_cpus: float = 1, num_gpus: float = 0, max_retries: int = 3,
               progress: Callable[[Progress], None] | None = None,
               progress_interval: float = 1.0) -> Callable[..., list[int]]:
    """A ``runner`` for :func:`vsr.segments.upscale_segmented` that computes the segments as Ray tasks.

    Args:
        address: the cluster (see :func:`connect`); None: the Ray initialised in this process, else a local one.
        num_cpus, num_gpus: resources per segment task (fractions allowed).
        max_retries: reruns of a segment whose worker died (-1: no limit).
        progress: called in the driver with reports over the whole file, ``segment`` set.
        progress_interval: seconds between a task's progress updates.
    """

    def run(src: Path, dst: Path, cfg: UpscaleConfig, indices: list[int],
            on_stats: Callable[[Any], None] | None = None) -> list[int]:
        saved = WorkDir(dst).read_plan()
        if saved is None:
            raise MediaError(f"{dst.name}: its segment plan vanished before the segments ran; run the command again")
        from vsr.segments.run import Report

        plan, print_ = saved
        report = Report(plan, [s.index for s in plan.segments if s.index not in indices], progress)
        with connect(address) as ray:
            task = ray.remote(segment_task).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                                                    retry_exceptions=False)
            sink = ray.remote(ProgressSink).options(num_cpus=0).remote() if progress else None
            args = (str(src.resolve()), str(dst.resolve()), cfg)
            pending = {task.remote(*args, i, print_, sink, i, progress_interval): i for i in indices}
            errors: list[VsrError] = []
            try:
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=min(1.0, progress_interval))
                    for i, p in ray.get(sink.drain.remote()) if sink is not None else ():
                        if i in pending.values():  # an update may arrive after its segment's result
                            report.callback(i)(p)
                    for ref in done:
                        i = pending.pop(ref)
                        try:
                            frames, part = ray.get(ref)
                        except ray.exceptions.RayError as e:
                            errors.append(task_error(ray, e, f"{dst.name}: segment {i}"))
                            continue
                        report.finished(i, frames)
                        if part is not None and on_stats is not None:
                            on_stats(part)
            except BaseException:
                for ref in pending:
                    with contextlib.suppress(Exception):
                        ray.cancel(ref, force=True)
                raise
        if errors:
            if len(errors) > 1:
                log.info("%d segments failed; the first is reported", len(errors))
            raise errors[0]
        return list(indices)

    return run
