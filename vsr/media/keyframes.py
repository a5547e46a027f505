"""The keyframe scan of a segment plan: one demux pass over the video stream, nothing decoded."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.errors import MediaError, UsageError, cause
from vsr.media.decode import first_video_stream, input_hint, is_url, open_input

__all__ = ["KeyframeScan", "scan_keyframes"]


@dataclass(frozen=True)
class KeyframeScan:
    """What one demux pass found.

    Attributes:
        time_base: the video stream's.
        start_time: the input's start time, seconds (FFmpeg's ``-ss`` zero).
        pts: every video packet's presentation timestamp, sorted.
        keyframes: the keyframes' timestamps, sorted.
    """

    time_base: Fraction
    start_time: Fraction
    pts: list[int]
    keyframes: list[int]


def scan_keyframes(path: str | Path) -> KeyframeScan:
    """Demux the first video stream of ``path`` for its timestamps and keyframes.

    Reads the file once (the time is the disk's: packets are not decoded).

    Raises:
        UsageError: stdin or a URL (a plan reads its input more than once).
        MediaError: unreadable input, no video, or video packets without timestamps.
    """
    if str(path) == "-" or is_url(path):
        raise UsageError(f"{path}: --segments needs a file (it is read more than once)")
    name = Path(path).name
    container = open_input(path)
    try:
        video = first_video_stream(container)
        if video is None:
            raise MediaError(f"{path}: no video stream (audio-only or data file)")
        pts: list[int] = []
        keys: list[int] = []
        missing = 0
        try:
            for packet in container.demux(video):
                if packet.pts is None:
                    missing += packet.size > 0
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except av.error.FFmpegError as e:
            raise MediaError(f"{name}: reading the input failed ({cause(e)}); {input_hint(path)}") from e
        if missing:
            raise MediaError(f"{name}: {missing} video packets carry no timestamp, so it cannot be cut at keyframes; "
                             "run it without --segments")
        if not pts:
            raise MediaError(f"{name}: no video frame could be read; {input_hint(path)}")
        zero = Fraction(container.start_time, av.time_base) if container.start_time is not None else Fraction(0)
        return KeyframeScan(Fraction(video.time_base), zero, sorted(pts), sorted(set(keys)))
    finally:
        container.close()
