"""Estimates before a long job (``--dry-run``): how much video, how fast here, how long, how big.

How they are made: a *trial* upscales :data:`TRIAL_FRAMES` frames from the middle of the input
(of its ``--start``/``--end`` range when one is given) with exactly the options of the job, on
this machine, into a temporary file that is then deleted. The speed is the trial's frames per
second over the pipeline's run (decode, network and encode, the encoder's flush included; the
model's load, paid once per job, left out). The time estimate is the job's frames at that speed; the
size estimate is the trial output's bytes per second of video (audio and other copied streams
included) times the job's duration. A batch runs one trial per distinct input size and set of
options and scales the size by each file's frames and output pixels (the same bits per pixel).

Both are estimates: the encoder spends more bits on busy scenes and less on static ones, and a
machine shared with other work runs slower. ``tests/test_estimate.py`` checks them within 2x on
the shipped sample.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from vsr.config import TimeRange, UpscaleConfig, seconds_text
from vsr.errors import MediaError

__all__ = ["TRIAL_FRAMES", "Trial", "Estimate", "run_trial", "estimate", "job_extent"]

TRIAL_FRAMES = 24


@dataclass(frozen=True)
class Trial:
    """What the trial measured.

    Attributes:
        frames: frames it upscaled.
        fps: frames per second over the pipeline's run.
        video_seconds: seconds of video it wrote.
        bytes: size of its output file.
        output_pixels: output width times height.
        stats: its :class:`vsr.pipeline.VideoStats` (model, weight set, backend, codec ...).
    """

    frames: int
    fps: float
    video_seconds: float
    bytes: int
    output_pixels: int
    stats: object

    @property
    def bytes_per_second(self) -> float:
        return self.bytes / self.video_seconds if self.video_seconds else 0.0

    @property
    def bits_per_pixel(self) -> float:
        """Output bits per output pixel per frame."""
        return 8 * self.bytes / (self.output_pixels * self.frames) if self.frames and self.output_pixels else 0.0


@dataclass(frozen=True)
class Estimate:
    """A job's estimate.

    Attributes:
        frames: frames the job will upscale (0 when unknown).
        duration: seconds of video, None when unknown.
        fps: the measured speed.
        seconds: the time estimate, None when the frame count is unknown.
        bytes: the output size estimate, None when unknown.
    """

    frames: int
    duration: float | None
    fps: float
    seconds: float | None
    bytes: int | None

    @property
    def speed(self) -> float | None:
        """Video seconds per wall-clock second (``1.0``: real time)."""
        return self.duration / self.seconds if self.duration and self.seconds else None


def job_extent(info, rng: TimeRange | None) -> tuple[int, float | None]:
    """``(frames, seconds)`` of video a job on ``info`` (a :class:`vsr.media.probe.VideoInfo`)
    upscales, its ``--start``/``--end`` range applied; ``(0, None)`` when unknown."""
    if rng is None:
        return info.frames, info.duration
    frames = rng.frames_in(info.frames, info.frame_rate, info.duration)
    end = rng.end if info.duration is None else min(rng.end or Fraction(info.duration), Fraction(info.duration))
    return frames, (None if end is None else max(0.0, float(end - (rng.start or 0))))  # 0: it starts past the end


def _trial_range(info, rng: TimeRange | None, frames: int) -> TimeRange:
    """``frames`` frames' worth of time from the middle of the job's span (length known)."""
    start = (rng.start if rng and rng.start else Fraction(0))
    end = min(rng.end, Fraction(info.duration)) if rng and rng.end else Fraction(info.duration)
    window = Fraction(frames) / Fraction(info.frame_rate)
    at = max(start, start + (end - start - window) / 2)
    return TimeRange(at, min(end, at + window))


def run_trial(src: str | Path, cfg: UpscaleConfig, info, suffix: str = ".mkv", frames: int = TRIAL_FRAMES) -> Trial:
    """Upscale ``frames`` frames of ``src`` with ``cfg`` into a temporary file (then deleted).

    Args:
        src: the input.
        cfg: the job's configuration (its range, if any, bounds where the trial looks).
        info: the probed input (:class:`vsr.media.probe.VideoInfo`).
        suffix: the output's suffix, which picks the container (``.mkv`` for a stream output).
        frames: frames to upscale.

    Raises:
        MediaError: the input's length is unknown (a live stream).
        VsrError: as :func:`vsr.pipeline.upscale_video`.
    """
    from vsr.pipeline import upscale_video

    if not info.frame_rate or not info.duration:
        raise MediaError(f"{info.path}: unknown length (a stream?): no estimate")
    if cfg.range is not None and (cfg.range.start or 0) >= info.duration:  # as the run itself would say
        raise MediaError(f"{Path(info.path).name}: --start {seconds_text(cfg.range.start)} is past the end of the "
                         f"input ({seconds_text(info.duration)} long)")
    trial_cfg = replace(cfg, range=_trial_range(info, cfg.range, frames), overwrite=True)
    with tempfile.TemporaryDirectory(prefix="vsr-trial-") as tmp:
        out = Path(tmp) / f"trial{suffix}"
        stats = upscale_video(src, out, trial_cfg)
        size = out.stat().st_size
    # the pipeline's own time (decode, network, encode with its flush), not the model's load: an
    # encoder buffers frames (x264's lookahead) and pays for them when it is closed, so the speed
    # is over the whole trial, its first frames (the first inference's set-up) included
    fps = stats.frames / stats.seconds if stats.seconds else 0.0
    w, h = stats.output_size
    return Trial(stats.frames, fps, stats.duration, size, w * h, stats)


def estimate(info, rng: TimeRange | None, trial: Trial, output_pixels: int | None = None) -> Estimate:
    """The estimate for a job on ``info`` from a ``trial`` with the same options.

    Args:
        info: the probed input.
        rng: the job's ``--start``/``--end`` range, or None.
        trial: a trial of this input, or of another of the same size and options.
        output_pixels: the job's output width times height (default: the trial's).
    """
    frames, duration = job_extent(info, rng)
    seconds = frames / trial.fps if frames and trial.fps else None
    size = None
    if trial.bytes and output_pixels in (None, trial.output_pixels) and duration:
        size = round(trial.bytes_per_second * duration)
    elif trial.bytes and frames:
        size = round(trial.bits_per_pixel * (output_pixels or trial.output_pixels) * frames / 8)
    return Estimate(frames, duration, trial.fps, seconds, size)
