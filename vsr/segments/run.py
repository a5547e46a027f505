"""A segmented run of one file: plan, compute the parts not yet finished, join.

Re-running the same call after a crash or a kill reuses every part its journal vouches for
and computes only the rest; changed options discard the old parts (with a warning).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vsr.config import UpscaleConfig
from vsr.errors import UsageError
from vsr.segments.plan import Plan, plan_segments
from vsr.segments.work import WorkDir, fingerprint

__all__ = ["SegmentStats", "Report", "prepare", "upscale_segmented", "plan_run", "run_segment",
           "join_run"]

log = logging.getLogger(__name__)

# Segments in flight at once in one process, sharing the loaded backend. One by default: on a
# 2-core CPU one pipeline already keeps both cores busy and a second only adds contention (as
# ``vsr batch --jobs 2`` measured), and 8 segments cost no measurable time over an unsegmented
# run (docs/performance.md). Two fill the gaps where a pipeline starts or drains (the seek, the
# encoder's final flush) on machines one pipeline cannot fill; the API takes ``overlap``.
OVERLAP = 1


@dataclass
class SegmentStats:
    """What a segmented run did.

    Attributes:
        frames: frames in the output.
        seconds: wall-clock time, join included.
        segments: segments in the plan.
        computed: indices of the segments computed by this run.
        reused: indices of the finished parts an earlier run left and this one reused.
        backend: the backend that ran (empty when every part was reused).
        join_seconds: the join's share of ``seconds`` (checking the parts, writing the output).
        duration: seconds of video in the output (the plan's span).
        reused_frames: frames of the reused parts (in ``frames``, not computed by this run).
        part: the last part this process computed: its :class:`vsr.pipeline.VideoStats` (model,
            weight set, backend, precision, encoder, sizes), for the summary; None when every
            part was reused or computed elsewhere (Ray).
    """

    frames: int = 0
    seconds: float = 0.0
    segments: int = 0
    computed: list[int] = field(default_factory=list)
    reused: list[int] = field(default_factory=list)
    backend: str = ""
    join_seconds: float = 0.0
    duration: float = 0.0
    part: Any = None
    reused_frames: int = 0

    @property
    def computed_frames(self) -> int:
        """Frames this run computed (the output's, less the reused parts')."""
        return max(0, self.frames - self.reused_frames)

    @property
    def computed_duration(self) -> float:
        """Seconds of video this run computed (at the plan's mean frame interval)."""
        return self.duration * self.computed_frames / self.frames if self.frames else 0.0

    @property
    def fps(self) -> float:
        """Frames computed by this run per second of its wall-clock time (reused parts left out)."""
        return self.computed_frames / self.seconds if self.seconds else 0.0


def resolve_weights(src: Path, cfg: UpscaleConfig) -> UpscaleConfig:
    """``cfg`` with ``--weights auto`` decided once for the whole file, by the rule an
    unsegmented run uses (:func:`vsr.pipeline.auto_weights`), so every part, on any node, uses
    the same weights. Reads the container's header only."""
    if cfg.model.weights != "auto":
        return cfg
    from vsr.media.decode import bits_per_pixel, first_video_stream, open_input
    from vsr.pipeline import auto_weights

    container = open_input(src, options=dict(cfg.input_options))
    try:
        stream = first_video_stream(container)
        if stream is None:
            return cfg  # the run itself says there is no video, in its own words
        return auto_weights(cfg, stream.codec_context.name, bits_per_pixel(stream, container))
    finally:
        container.close()


def prepare(src: Path, dst: Path, cfg: UpscaleConfig, count: int | str | None) -> tuple[Plan, str, WorkDir,
                                                                                         UpscaleConfig]:
    """Open (or resume) the work folder of ``dst``.

    Args:
        count: segments wanted (``"auto"``); None: the plan already in the work folder.

    Returns:
        ``(plan, fingerprint, work folder, config with the weights resolved)``.

    Raises:
        UsageError: no plan to resume; a time range other than the saved plan's.
    """
    work = WorkDir(dst)
    cfg = resolve_weights(src, cfg)
    if count is None:
        saved = work.read_plan()
        if saved is None:
            raise UsageError(f"{dst.name}: no segment plan there; run 'vsr segments plan' first")
        plan = saved[0]
        _check_source(src, dst, plan)
        if cfg.range is not None and cfg.range != plan.range:
            raise UsageError(f"{dst.name}: its segment plan covers {plan.range or 'the whole input'}, not {cfg.range}; "
                             "give the plan's --start/--end, or plan again")
        print_ = fingerprint(plan, cfg)
        if print_ != saved[1]:
            raise UsageError(f"{dst.name}: these options or this source differ from the plan's; give the same "
                             "options as 'vsr segments plan', or plan again")
        return plan, print_, work, cfg
    plan = plan_segments(src, count, time_range=cfg.range)
    print_ = fingerprint(plan, cfg)
    return work.start(plan, print_), print_, work, cfg


def check_output(src: Path, dst: Path, cfg: UpscaleConfig) -> None:
    """Refuse, before any work, an output path :func:`vsr.media.containers.check_paths` refuses
    and an encoder its container cannot carry (the parts are NUT, the join is not).

    Raises:
        UsageError, OutputExistsError: one line.
    """
    from vsr.media.containers import check_codec_fits, check_paths, muxer_for

    check_paths(src, dst, cfg.overwrite)
    check_codec_fits(cfg.encode.codec, cfg.encode.container_format or muxer_for(dst))


def _check_source(src: Path, dst: Path, plan: Plan) -> None:
    """Refuse ``src`` unless it is the file ``plan`` was made from (through a link or another
    mount path too): the fingerprint is of the plan's source, so only this tells them apart.

    Raises:
        UsageError: another input.
    """
    try:
        same = os.path.samefile(src, plan.source)
    except OSError:
        same = src.resolve() == Path(plan.source).resolve()
    if not same:
        raise UsageError(f"{dst.name}: its segment plan is for {plan.source}, not {src}; give that input, or plan "
                         "again with this one")


def upscale_segmented(src: str | Path, dst: str | Path, config: UpscaleConfig | None = None, *,
                      segments: int | str = "auto", progress: Callable[[Any], None] | None = None,
                      loaded: Any = None, cancel: threading.Event | None = None,
                      runner: Callable[..., list[int]] | None = None, overlap: int = OVERLAP,
                      **options: Any) -> SegmentStats:
    """Upscale one file in segments cut at its keyframes, resumable after a kill.

    Args:
        src, dst, config, options, loaded, cancel: as :func:`vsr.pipeline.upscale_video`.
        segments: how many (a number, or ``"auto"``: see :mod:`vsr.segments.plan`).
        progress: called with :class:`vsr.pipeline.Progress` reports covering the whole file
            (frames across segments, reused parts counted as done), ``segment`` set.
        runner: computes a list of segment indices instead of this process (Ray: see
            :mod:`vsr.segments.ray`); called as ``runner(src, dst, cfg, indices, on_stats)``,
            ``on_stats`` taking each computed part's :class:`vsr.pipeline.VideoStats`.
        overlap: segments computed at once in this process, sharing the loaded backend (see
            :data:`OVERLAP`).

    Returns:
        What was computed, reused and written.

    Raises:
        VsrError: as :func:`vsr.pipeline.upscale_video`; a part the join refuses.
    """
    from vsr.pipeline import load_backend, merge_options
    from vsr.segments.join import join_parts

    cfg = merge_options(config or UpscaleConfig(), options)
    src, dst = Path(src), Path(dst)
    check_output(src, dst, cfg)
    t0 = time.perf_counter()
    plan, print_, work, cfg = prepare(src, dst, cfg, segments)
    stats = SegmentStats(segments=len(plan.segments), duration=plan.duration)
    stats.reused = work.finished(plan, print_)
    stats.reused_frames = sum(plan.segments[i].frames for i in stats.reused)
    todo = [s.index for s in plan.segments if s.index not in stats.reused]
    if stats.reused:
        log.info("%s: reusing %d finished segment(s) of %d; computing %d", dst.name, len(stats.reused),
                 len(plan.segments), len(todo))
    try:
        if todo and runner is not None:
            done: list[Any] = []
            stats.computed = runner(src, dst, cfg, todo, done.append)
            stats.part = done[-1] if done else None
            stats.backend = stats.part.backend if done else ""
        elif todo:
            net = loaded or load_backend(cfg.model, cfg.backend)  # loaded once for every segment
            try:
                report = Report(plan, stats.reused, progress)
                parts: list[Any] = []
                stats.computed = _compute(src, work, plan, cfg, print_, todo, net, report, cancel, overlap,
                                          parts.append)
                stats.part = parts[-1] if parts else None
                stats.backend = net.backend.name
            finally:
                if loaded is None:
                    net.backend.close()
    except BaseException:
        if all(work.record(s.index) is None for s in plan.segments):
            work.remove()  # no finished part to resume from: leave nothing beside the output
        raise
    t1 = time.perf_counter()
    stats.frames = join_parts(src, dst, plan, work, print_, cfg)
    stats.join_seconds = time.perf_counter() - t1
    stats.seconds = time.perf_counter() - t0
    return stats


def _compute(src: Path, work: WorkDir, plan: Plan, cfg: UpscaleConfig, print_: str, todo: list[int], net: Any,
             report: Report, cancel: threading.Event | None, overlap: int,
             on_stats: Callable[[Any], None] | None = None) -> list[int]:
    """Run the parts ``todo``, ``overlap`` at a time, in order; the first failure stops the others
    and is raised; ``on_stats`` gets each part's :class:`vsr.pipeline.VideoStats`. Returns the
    indices computed."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    from vsr.segments.part import run_part

    stop = threading.Event()  # ours: a failure must not set the caller's cancel
    errors: list[BaseException] = []  # in the order they happened: the first is the cause
    lock = threading.Lock()

    def one(i: int) -> int | None:
        if stop.is_set():
            return None
        try:
            part = run_part(src, work, plan, i, cfg, print_, progress=report.callback(i), loaded=net, cancel=stop,
                            on_stats=on_stats)
        except BaseException as e:
            with lock:
                errors.append(e)
            stop.set()
            raise
        report.finished(i, part.frames)
        return i

    with ThreadPoolExecutor(max(1, overlap), thread_name_prefix="vsr-segment") as pool:
        futures = [pool.submit(one, i) for i in todo]
        try:
            while wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION).not_done and not stop.is_set():
                if cancel is not None and cancel.is_set():
                    stop.set()
        except BaseException:  # Ctrl-C in the caller: stop the segments, then re-raise
            stop.set()
            raise
        finally:
            wait(futures)
    if errors:
        raise errors[0]
    if cancel is not None and cancel.is_set():
        from vsr.errors import VsrError

        raise VsrError("cancelled")
    return [i for i in (f.result() for f in futures) if i is not None]


class Report:
    """Turns the parts' progress into reports over the whole file (thread-safe; also used by
    the Ray runners, :mod:`vsr.segments.ray`, whose parts report from the workers)."""

    def __init__(self, plan: Plan, reused: list[int], progress: Callable[[Any], None] | None) -> None:
        self.total = plan.frames
        self.interval = plan.duration / plan.frames if plan.frames else 0.0  # mean seconds per frame
        self.done = sum(plan.segments[i].frames for i in reused)  # frames of finished parts
        self.computed = 0  # frames computed by this run, in finished parts (the rate's numerator)
        self.current: dict[int, int] = {}  # frames so far of the parts in flight
        self.progress = progress
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()

    def callback(self, index: int) -> Callable[[Any], None] | None:
        if self.progress is None:
            return None
        from vsr.pipeline import Progress

        def on_progress(p: Any) -> None:
            with self.lock:
                self.current[index] = p.frames
                running = sum(self.current.values())
                frames, done = self.computed + running, min(self.done + running, self.total)
                elapsed = time.perf_counter() - self.t0
                fps = frames / elapsed if elapsed > 0 else 0.0
                eta = (self.total - done) / fps if fps else None
                position = frames * self.interval or None  # video seconds computed by this run: the speed
                self.progress(Progress(done, self.total, elapsed, fps, eta, position, segment=index))

        return on_progress

    def finished(self, index: int, frames: int) -> None:
        with self.lock:
            self.current.pop(index, None)
            self.done += frames
            self.computed += frames


# -- the three farm steps (any node sharing the filesystem) ---------------------------------------
def plan_run(src: str | Path, dst: str | Path, cfg: UpscaleConfig, count: int | str) -> Plan:
    """Step 1: plan ``src`` into ``count`` segments and open the work folder beside ``dst``
    (an earlier plan with the same options is kept, with its finished parts).

    Raises:
        OutputExistsError: ``dst`` exists and ``cfg.overwrite`` is not set (found before any work).
    """
    check_output(Path(src), Path(dst), cfg)
    return prepare(Path(src), Path(dst), cfg, count)[0]


def run_segment(src: str | Path, dst: str | Path, cfg: UpscaleConfig, index: int, *,
                progress: Callable[[Any], None] | None = None, force: bool = False) -> bool:
    """Step 2: compute segment ``index`` of the saved plan (a sound finished part is kept
    unless ``force``). Returns whether it was computed.

    Raises:
        UsageError: no plan, other options than the plan's, an index outside it.
    """
    from vsr.segments.part import run_part

    src, dst = Path(src), Path(dst)
    plan, print_, work, cfg = prepare(src, dst, cfg, None)
    if not 0 <= index < len(plan.segments):
        raise UsageError(f"--index {index}: the plan has segments 0 to {len(plan.segments) - 1}")
    if not force and work.problem(index, print_) is None:
        log.info("%s: segment %d is already done", dst.name, index)
        return False
    report = Report(plan, [], progress)
    report.done = sum(s.frames for s in plan.segments[:index])
    run_part(src, work, plan, index, cfg, print_, progress=report.callback(index))
    return True


def join_run(src: str | Path, dst: str | Path, cfg: UpscaleConfig) -> int:
    """Step 3: verify every part of the saved plan and write ``dst``; returns its frames.

    Raises:
        UsageError: no plan there.
        MediaError: a missing or corrupt part, named in one line.
    """
    from vsr.segments.join import join_parts

    src, dst = Path(src), Path(dst)
    check_output(src, dst, cfg)
    work = WorkDir(dst)
    saved = work.read_plan()
    if saved is None:
        raise UsageError(f"{dst.name}: no segment plan there; run 'vsr segments plan' first")
    _check_source(src, dst, saved[0])
    return join_parts(src, dst, saved[0], work, saved[1], cfg)
