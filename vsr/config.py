"""Frozen, typed configuration for models, backends, encoding and whole jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from vsr.errors import UsageError

__all__ = ["ModelConfig", "BackendConfig", "EncodeConfig", "TimeRange", "UpscaleConfig", "parse_time", "seconds_text",
           "time_range"]


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a registered architecture, an upscaling factor and a weight set.

    Attributes:
        name: architecture, e.g. ``espcn``.
        scale: upscaling factor.
        weights: ``clean`` (trained on bicubic LR), ``compressed`` (fine-tuned on codec-degraded
            LR) or ``auto`` (chosen per input from its bits per pixel, see
            :func:`vsr.models.choice.choose_weights`).
    """

    name: str = "espcn"
    scale: int = 2
    weights: str = "auto"


@dataclass(frozen=True)
class BackendConfig:
    """Where and how the network runs.

    Attributes:
        name: ``auto`` or a registered backend (``vsr.backends.backend_names()``).
        device: ``auto`` (a CUDA GPU when PyTorch sees one, else the CPU), ``cpu``, ``cuda[:N]``
            or another device kind a registered backend runs on.
        tile: split the luma into tiles of at most this many pixels per side (0: whole frame).
        batch: frames per backend call.
        threads: CPU threads per backend call (0: automatic, the cores shared between workers).
        workers: on the CPU, frames (batches) computed at once in worker threads (0: automatic,
            see :func:`vsr.devices.cpu_parallelism`).
        options: the backends' own options as ``(name, value)`` pairs (a dict is accepted), e.g.
            ``precision`` (OpenVINO), ``max_size`` (TensorRT), ``cuda_graphs`` (PyTorch on CUDA);
            each backend declares its own with its registration (:mod:`vsr.backends.options`),
            which checks them and fills the defaults.
    """

    name: str = "auto"
    device: str = "auto"
    tile: int = 0
    batch: int = 1
    threads: int = 0
    workers: int = 0
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        items = self.options.items() if isinstance(self.options, dict) else self.options
        object.__setattr__(self, "options", tuple(sorted((str(k), v) for k, v in items)))

    def option(self, name: str, default: Any = None) -> Any:
        """The value of the backend option ``name``, or ``default`` when it is not set."""
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class EncodeConfig:
    """Output encoding. ``None`` fields are chosen from the source (see ``media.encode``).

    Attributes:
        codec: FFmpeg encoder name, e.g. ``libx264``, ``libx265``, ``ffv1``, ``hevc_nvenc``.
        crf: constant rate factor / quality.
        preset: encoder preset.
        pix_fmt: output pixel format, e.g. ``yuv420p10le``.
        options: extra encoder options as ``(key, value)`` pairs.
        container_format: FFmpeg muxer name (``--format``); None: from the output's suffix.
        muxer_options: FFmpeg muxer options as ``(key, value)`` pairs (segment parts:
            ``avoid_negative_ts=disabled`` keeps the source's timestamps unshifted).
    """

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    container_format: str | None = None
    muxer_options: tuple[tuple[str, str], ...] = ()


_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)")
_SECONDS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(s|ms|us)?")


def parse_time(text: str) -> Fraction:
    """A time as FFmpeg's ``-ss``/``-to``/``-t`` write it, in exact seconds.

    ``SECONDS[.frac]`` (optionally ending in ``s``, ``ms`` or ``us``) or
    ``[HH:]MM:SS[.frac]`` (minutes and seconds below 60): ``"90"``, ``"1.5"``, ``"01:30"``,
    ``"1:02:03.04"``, ``"250ms"``.

    Raises:
        UsageError: anything else, negative times included.
    """
    t = text.strip()
    if t.startswith("-"):
        raise UsageError(f"{text!r} is negative: times count from the input's start")
    m = _CLOCK.fullmatch(t)
    if m:
        hours, minutes, seconds = int(m[1] or 0), int(m[2]), Fraction(m[3])
        if minutes >= 60 or seconds >= 60:
            raise UsageError(f"{text!r}: minutes and seconds must be below 60 in [HH:]MM:SS")
        return hours * 3600 + minutes * 60 + seconds
    m = _SECONDS.fullmatch(t)
    if m:
        return Fraction(m[1]) / {None: 1, "s": 1, "ms": 1000, "us": 1_000_000}[m[2]]
    raise UsageError(f"{text!r} is not a time: give seconds (90, 1.5) or [HH:]MM:SS[.frac] (01:30, 1:02:03.5)")


@dataclass(frozen=True)
class TimeRange:
    """A part of the input's timeline: the frames with ``start <= t < end``.

    ``t`` is a frame's presentation time in seconds counted from the input's start time, as
    FFmpeg's ``-ss``/``-to`` measure it (an MPEG-TS file whose first timestamp is 1.4 s has
    ``t = 0`` there). Output timestamps start at zero (at ``start``).

    Attributes:
        start: first second kept (None: from the beginning).
        end: first second no longer kept (None: to the end of the input).
    """

    start: Fraction | None = None
    end: Fraction | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.start < 0:
            raise UsageError(f"start {seconds_text(self.start)} is negative")
        if self.end is not None and self.end <= (self.start or 0):
            raise UsageError(f"end {seconds_text(self.end)} is not after start {seconds_text(self.start or 0)}: "
                             "the range holds no time")

    def __str__(self) -> str:
        return f"{seconds_text(self.start or 0)}-{'end' if self.end is None else seconds_text(self.end)}"

    def frames_in(self, frames: int, rate: Fraction | float | None, duration: Fraction | float | None) -> int:
        """Frames of an input (``frames`` in all, ``rate`` per second, ``duration`` seconds long,
        each None or 0 when unknown) that the range holds, estimated; 0 when unknown."""
        end = self.end
        if duration:
            end = Fraction(duration) if end is None else min(end, Fraction(duration))
        if end is None or not rate:
            return 0
        n = max(0, round((end - (self.start or 0)) * Fraction(rate)))
        return min(n, frames) if frames else n


def seconds_text(t: Fraction | float) -> str:
    """``t`` seconds as people read them, to the microsecond: ``"90 s"``, ``"1.333333 s"``."""
    us = round(Fraction(t) * 1_000_000)
    whole, frac = divmod(abs(us), 1_000_000)
    text = f"{whole}.{frac:06d}".rstrip("0").rstrip(".")
    return f"{'-' if us < 0 else ''}{text} s"


def time_range(start: str | Fraction | float | None = None, end: str | Fraction | float | None = None,
               duration: str | Fraction | float | None = None) -> TimeRange | None:
    """A :class:`TimeRange` from ``--start``, ``--end`` and ``--duration`` (texts or seconds).

    Returns:
        None when all three are None (the whole input).

    Raises:
        UsageError: both ``end`` and ``duration``, a zero or negative duration, an end not
            after the start, or a time :func:`parse_time` refuses.
    """
    def value(x: str | Fraction | float | None, flag: str) -> Fraction | None:
        if x is None:
            return None
        try:
            if isinstance(x, str):
                return parse_time(x)
            if x < 0:
                raise UsageError(f"{seconds_text(x)} is negative: times count from the input's start")
        except UsageError as e:
            raise UsageError(f"{flag} {e}") from None
        return Fraction(x)

    s, e, d = value(start, "--start"), value(end, "--end"), value(duration, "--duration")
    if e is not None and d is not None:
        raise UsageError("give --end or --duration, not both")
    if d is not None:
        if d == 0:
            raise UsageError("--duration 0 holds no time")
        e = (s or 0) + d
    if s is None and e is None:
        return None
    return TimeRange(s, e)


@dataclass(frozen=True)
class UpscaleConfig:
    """Everything one ``upscale_video`` call needs besides the paths."""

    model: ModelConfig = field(default_factory=ModelConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    size: tuple[int, int] | None = None  # exact output (width, height); None: scale x input
    deinterlace: str = "auto"  # auto | off
    hwdec: str | None = None  # None | cuda
    overwrite: bool = False
    queue_size: int = 4
    input_options: tuple[tuple[str, str], ...] = ()  # FFmpeg protocol/demuxer options (--input-option)
    timeout: float | None = None  # seconds without input data before the job fails (--timeout)
    range: TimeRange | None = None  # part of the input to upscale (--start/--end/--duration); None: all
    video_only: bool = False  # write the video stream alone: no copied streams, chapters or tags (segment parts)
