"""What the encoder needs to know about the input, taken once from the open input container."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

__all__ = ["SourceInfo"]


@dataclass(frozen=True)
class SourceInfo:
    """A snapshot of the input, handed from the decoder to the encoder (which never sees the
    input container itself).

    Attributes:
        name: the input's name, for messages.
        format: the input's FFmpeg demuxer name.
        rate: the video's frame rate (guessed or average), None if unknown.
        coded_size: ``(width, height)`` of the decoded video before upscaling.
        sample_aspect_ratio: the input's pixel aspect ratio (1 when square or unknown).
        sar_tagged: the input stream carries an explicit sample aspect ratio.
        rotation: display rotation of the first frame, degrees counter-clockwise.
        video_tags: ``language``, ``title``, ``handler_name`` of the video stream, where set.
        timecode: start timecode ``HH:MM:SS:FF``, or None.
        metadata: global (container) tags.
        chapters: chapters as PyAV's ``chapters()`` gives them.
        streams: the non-video input streams to carry over (PyAV stream objects: the
            templates for the output streams; their packets travel separately).
        window: with a time range, ``(start, end)`` seconds of the output's clock that re-encoded
            audio keeps, sample-exact (``(0, length)``; None for a side the range leaves open);
            None without a range.
    """

    name: str
    format: str
    rate: Fraction | None
    coded_size: tuple[int, int]
    sample_aspect_ratio: Fraction = Fraction(1)
    sar_tagged: bool = False
    rotation: float = 0
    video_tags: dict[str, str] = field(default_factory=dict)
    timecode: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    chapters: list[dict[str, Any]] = field(default_factory=list)
    streams: tuple = ()
    window: tuple[Fraction | None, Fraction | None] | None = None
