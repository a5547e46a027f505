"""``--dry-run`` estimates of ``vsr upscale`` and ``vsr batch``: frames, duration, the speed
measured here by a short trial with the job's options, the time and the output size
(how they are made: :mod:`vsr.estimate`)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["upscale_estimate_lines", "batch_estimate_lines", "segment_plan_lines"]

LISTED = 12  # segments listed one a line; a longer plan is summarised


def _what(trial) -> str:
    s = trial.stats
    backend = f"{s.backend} {s.precision}" if s.precision else s.backend
    return f"{s.model} x{s.scale} {s.weights} weights, {backend}, {s.codec}"


def _speed(trial, source: str) -> str:
    from vsr.progress import speed_text

    realtime = trial.fps * trial.video_seconds / trial.frames if trial.frames else None
    return (f"{trial.fps:.2f} fps ({speed_text(realtime)}), measured on {trial.frames} frames of {source} "
            "with these options")


def upscale_estimate_lines(src: str, dst: str, cfg) -> list[str]:
    """The lines ``vsr upscale --dry-run`` prints (a trial of :data:`vsr.estimate.TRIAL_FRAMES` runs first)."""
    from vsr.estimate import estimate, run_trial
    from vsr.media.probe import probe
    from vsr.progress import human_bytes, human_seconds

    info = probe(src, dict(cfg.input_options), cfg.timeout)
    name = "stdin" if src == "-" else Path(src).name
    trial = run_trial(src, cfg, info, ".mkv" if dst == "-" else Path(dst).suffix)
    est = estimate(info, cfg.range, trial)
    w, h = trial.stats.output_size
    duration = "?" if est.duration is None else human_seconds(est.duration)
    lines = [f"{name}: {info.width}x{info.height} -> {w}x{h}, {est.frames or '?'} frames, {duration} of video"
             + (f" ({cfg.range})" if cfg.range else "") + f"; {_what(trial)}",
             f"speed here: {_speed(trial, name)}",
             f"estimate: {'?' if est.seconds is None else human_seconds(est.seconds)} to upscale, output about "
             f"{'?' if est.bytes is None else human_bytes(est.bytes)} -> {dst}",
             "dry run: nothing was written (see docs/batch.md for how the estimates are made)"]
    return lines


def batch_estimate_lines(items: list, jobs: int = 1) -> list[str]:
    """Totals and estimates of a batch plan: one trial per distinct input size and options."""
    from vsr.errors import VsrError
    from vsr.estimate import estimate, job_extent, run_trial
    from vsr.progress import human_bytes, human_seconds

    todo = [i for i in items if i.action == "upscale" and i.info is not None]
    copies = [i for i in items if i.action == "copy" and i.info is not None]
    lines, trials = [], {}
    frames = seconds = 0.0
    total_time, total_bytes, unknown = 0.0, sum(i.info.size_bytes for i in copies), 0
    for item in todo:
        n, d = job_extent(item.info, item.config.range)
        frames += n
        seconds += d or 0.0
        key = (item.info.width, item.info.height, item.config, item.dst.suffix)
        if key not in trials:
            try:
                trials[key] = run_trial(item.source.url or item.source.path, item.config, item.info, item.dst.suffix)
                lines.append(f"speed here for {item.info.width}x{item.info.height}, "
                             f"{_what(trials[key])}: {_speed(trials[key], Path(item.name).name)}")
            except VsrError as e:
                trials[key] = None
                lines.append(f"no estimate for {item.info.width}x{item.info.height} inputs: {e}")
        trial = trials[key]
        est = estimate(item.info, item.config.range, trial, item.output_size[0] * item.output_size[1]) \
            if trial is not None else None
        if est is None or est.seconds is None or est.bytes is None:
            unknown += 1
            continue
        total_time += est.seconds
        total_bytes += est.bytes
    lines.append(f"total: {len(todo)} file(s) to upscale, {int(frames)} frames, {human_seconds(seconds)} of video"
                 + (f"; {len(copies)} to copy" if copies else ""))
    if todo:
        note = f" ({unknown} file(s) without an estimate not counted)" if unknown else ""
        par = "" if jobs == 1 else f" (files one after another; --jobs {jobs} shares the same cores)"
        lines.append(f"estimate: about {human_seconds(total_time)} to upscale{par}, output about "
                     f"{human_bytes(total_bytes)} in all{note} (see docs/batch.md for how the estimates are made)")
    return lines


def segment_plan_lines(src: str, count: int | str, time_range=None) -> list[str]:
    """The ``--segments N|auto`` part of a dry run: the plan a real run would make (a keyframe
    scan, nothing decoded), each segment's span and frames, and why it has fewer segments than
    asked (a single keyframe, keyframes too far apart), as the plan's warnings say; with a
    ``time_range`` (:class:`vsr.config.TimeRange`), the plan of that range."""
    import logging

    from vsr.progress import human_seconds
    from vsr.segments.plan import plan_segments

    warnings: list[str] = []

    def keep(record: logging.LogRecord) -> bool:  # the plan's warnings go into the lines, not the log
        if record.levelno < logging.WARNING:
            return True
        warnings.append(record.getMessage())
        return False

    logger = logging.getLogger("vsr.segments.plan")
    logger.addFilter(keep)
    try:
        plan = plan_segments(src, count, time_range=time_range)
    finally:
        logger.removeFilter(keep)
    end = (time_range.start or 0 if time_range is not None else 0) + plan.duration  # of the last segment, when open
    spans = [(s, float((end if s.end is None else s.end) - (s.start or 0))) for s in plan.segments]
    n = len(spans)
    asked = " (auto: about a minute each)" if count == "auto" else "" if count == n else f" ({count} asked)"
    lines = [f"segments: {n}{asked}, cut at the source's keyframes ({plan.keyframes} found)"]
    if n <= LISTED:
        lines += [f"  segment {s.index}: {float(s.start or 0):.2f}-{float(s.start or 0) + d:.2f} s, "
                  f"{human_seconds(d)}, {s.frames} frames" for s, d in spans]
    else:
        seconds, frames = [d for _, d in spans], [s.frames for s, _ in spans]
        lines.append(f"  {_span(human_seconds(min(seconds)), human_seconds(max(seconds)))} each, "
                     f"{_span(min(frames), max(frames))} frames ('vsr segments plan' lists them)")
    lines += [f"  warning: {w}" for w in warnings]
    return lines


def _span(low, high) -> str:
    return f"{low}" if low == high else f"{low} to {high}"
