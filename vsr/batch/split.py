"""A long file of a Ray batch split into segment tasks (``vsr batch --ray --split-longer-than``).

Files are a batch's natural unit, but three two-hour films keep only three workers busy
however large the cluster is. A file longer than the threshold is planned by the driver
(the keyframe scan, :func:`vsr.segments.run.prepare`: demux only, seconds for a film) into
segments, each a Ray task of :func:`vsr.segments.ray.segment_task`, all of them queued with
the other files' tasks so every worker has work. When a file's last segment is finished, a
join task (:func:`join_task`) verifies the parts and writes the output; only its result
makes the file done in the journal and the report. The parts live in the work folder
beside the output, so a batch run again after a crash reuses every finished segment.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vsr.batch.job import run_join
from vsr.batch.plan import BatchItem
from vsr.batch.report import FileResult
from vsr.errors import VsrError
from vsr.segments.run import Report

if TYPE_CHECKING:
    from vsr.config import UpscaleConfig
    from vsr.pipeline import Progress
    from vsr.segments.plan import Plan

__all__ = ["Split", "plan_split", "join_task"]

log = logging.getLogger(__name__)


@dataclass
class Split:
    """One file being computed as segment tasks (driver side).

    Attributes:
        item: the batch item, paths absolute.
        config: its options with the weights resolved (the same for every segment).
        plan, print_: the segment plan and its fingerprint.
        todo: segments to compute (the others were finished by an earlier run).
        report: turns the segments' progress into reports over the whole file.
        left: segments whose task has not ended yet.
        backend: the backend a segment task reported.
        t0: when the driver planned it (the file's wall time counts from here).
    """

    item: BatchItem
    config: UpscaleConfig
    plan: Plan
    print_: str
    todo: list[int]
    report: Report
    left: set[int] = field(default_factory=set)
    backend: str = ""
    t0: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.left = set(self.todo)

    def progress(self, index: int, p: Progress) -> None:
        """Segment ``index`` reports ``p`` (frames inside the segment)."""
        callback = self.report.callback(index)
        if callback is not None:
            callback(p)

    def segment_done(self, index: int, frames: int, stats: Any) -> bool:
        """Record segment ``index`` finished (``stats``: its part's VideoStats, None when an
        earlier attempt had finished it); True when it was the file's last."""
        self.left.discard(index)
        self.report.finished(index, frames)
        self.backend = self.backend or (stats.backend if stats is not None else "")
        return not self.left

    def failed(self, reason: str) -> FileResult:
        """The file's result when one of its segments failed (the finished parts stay for a rerun)."""
        from vsr.batch.job import immediate_result

        r = immediate_result(self.item)
        r.action, r.status, r.reason, r.segments = "upscale", "failed", reason, len(self.plan.segments)
        return r

    def result(self, result: FileResult) -> FileResult:
        """The join's result with this file's whole wall time and segment count."""
        result.segments = len(self.plan.segments)
        result.seconds = time.perf_counter() - self.t0
        result.fps = result.frames / result.seconds if result.seconds else 0.0
        return result


def plan_split(item: BatchItem, longer_than: float | None, segments: int | str,
               progress: Callable[[Progress], None] | None = None) -> Split | None:
    """Plan ``item`` into segments if it is an upscale of a local file longer than
    ``longer_than`` seconds (its time range, if it has one) with at least two keyframe-cut
    segments; None: run it whole.
    ``progress`` gets the split file's reports over the whole file."""
    from vsr.segments.run import prepare

    info = item.info
    if (longer_than is None or item.action != "upscale" or item.source.url or item.config is None or info is None
            or not info.duration):
        return None
    rng = item.config.range  # a time range: its length counts, and only it is segmented
    length = info.duration
    if rng is not None:
        length = min(float(rng.end or length), length) - float(rng.start or 0)
    if length <= longer_than:
        return None
    try:
        plan, print_, work, cfg = prepare(Path(item.source.path), Path(item.dst), item.config, segments)
    except (VsrError, OSError) as e:  # the whole-file task then reports a bad input in its own words
        log.info("%s: not split into segments (%s); it runs as one task", item.name, e)
        return None
    if len(plan.segments) < 2:
        work.remove()
        return None
    done = work.finished(plan, print_)
    if done:
        log.info("%s: reusing %d finished segment(s) of %d", item.name, len(done), len(plan.segments))
    log.info("%s: %d segment tasks", item.name, len(plan.segments) - len(done))
    return Split(item, cfg, plan, print_, [s.index for s in plan.segments if s.index not in done],
                 Report(plan, done, progress))


def join_task(item: BatchItem, config: UpscaleConfig, backend: str) -> FileResult:
    """Runs on a Ray worker: verify the file's parts and write its output (never raises for
    a bad part: the result says which one)."""
    from vsr.segments.run import join_run

    return run_join(item, lambda: join_run(item.source.path, item.dst, config), backend)
