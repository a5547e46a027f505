"""Where a long video is cut: a keyframe scan (demux only, nothing decoded) and the segments.

A segment holds the frames whose presentation time ``t`` (seconds from the input's start
time, FFmpeg's ``-ss`` clock, as :class:`vsr.config.TimeRange` measures it) satisfies
``start <= t < end``, where ``start`` is a source keyframe's own timestamp. Timestamps are
the source's packets', never computed from a frame rate, so variable-rate sources split
exactly. Leading frames of an open GOP (presented before their keyframe, decoded after it)
belong to the segment before: the range decoder reads on past the keyframe to reach them.

``count="auto"``: one segment per :data:`AUTO_SECONDS` of source (at least one), so a
segment is about a minute of work for a farm node and a kill loses at most that much.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vsr.config import TimeRange
from vsr.errors import MediaError, UsageError
from vsr.media.keyframes import KeyframeScan, scan_keyframes

__all__ = ["AUTO_SECONDS", "Segment", "Plan", "plan_segments", "parse_count"]

log = logging.getLogger(__name__)

AUTO_SECONDS = 60  # --segments auto: about this much source per segment


@dataclass(frozen=True)
class Segment:
    """One range of the source, cut at a keyframe.

    Attributes:
        index: position in the plan, from 0.
        start, end: seconds from the input's start time (None: from the beginning / to the end).
        start_pts, end_pts: the same bounds as the source video's timestamps (``end_pts`` None
            for the last segment; ``start_pts`` of the first is its first frame's).
        frames: video packets presented in the range (the frames a run should write).
    """

    index: int
    start: Fraction | None
    end: Fraction | None
    start_pts: int
    end_pts: int | None
    frames: int

    def time_range(self) -> TimeRange:
        """The range the decoder keeps for this segment."""
        return TimeRange(self.start, self.end)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "start": None if self.start is None else float(self.start),
                "end": None if self.end is None else float(self.end),
                "start_exact": None if self.start is None else str(self.start),
                "end_exact": None if self.end is None else str(self.end),
                "start_pts": self.start_pts, "end_pts": self.end_pts, "frames": self.frames}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Segment:
        def exact(key: str) -> Fraction | None:
            return None if d[key + "_exact"] is None else Fraction(d[key + "_exact"])

        return cls(d["index"], exact("start"), exact("end"), d["start_pts"], d["end_pts"], d["frames"])


@dataclass(frozen=True)
class Plan:
    """The segments of one source.

    Attributes:
        source: the input file (resolved path).
        time_base: the source video stream's time base.
        start_time: the input's start time in seconds (the zero of ``Segment.start``).
        frames: video packets with a timestamp in the whole source.
        keyframes: keyframes found.
        segments: the ranges, in order, covering the whole source.
        duration: seconds of video the frames span (``n`` frames: ``n`` mean frame intervals).
    """

    source: str
    time_base: Fraction
    start_time: Fraction
    frames: int
    keyframes: int
    segments: tuple[Segment, ...]
    duration: float = 0.0

    def shift(self, segment: Segment) -> int:
        """Ticks (source time base) the range decoder subtracted from ``segment``'s timestamps:
        its start on the streams' clock (see :mod:`vsr.media.trim`); add them back to get the
        source's timestamps."""
        return round((self.start_time + (segment.start or 0)) / self.time_base)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "time_base": str(self.time_base), "start_time": str(self.start_time),
                "frames": self.frames, "keyframes": self.keyframes, "duration": round(self.duration, 6),
                "segments": [s.to_json() for s in self.segments]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        return cls(d["source"], Fraction(d["time_base"]), Fraction(d["start_time"]), d["frames"], d["keyframes"],
                   tuple(Segment.from_json(s) for s in d["segments"]), d.get("duration", 0.0))

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)


def parse_count(text: str | int) -> int | str:
    """``--segments``: a positive number, or ``auto``.

    Raises:
        UsageError: anything else.
    """
    if isinstance(text, int) or str(text).isdigit():
        n = int(text)
        if n >= 1:
            return n
    elif str(text).strip().lower() == "auto":
        return "auto"
    raise UsageError(f"--segments {text!r}: expected a number of segments (1 or more) or auto")


def plan_segments(path: str | Path, count: int | str, scan: KeyframeScan | None = None) -> Plan:
    """Split ``path`` at source keyframes into ``count`` ranges (``"auto"``: see the module).

    The cut before segment ``i`` is the keyframe nearest to ``i / count`` of the source's
    duration; keyframes closer together than that leave fewer segments (with a warning).

    Raises:
        MediaError: see :func:`vsr.media.keyframes.scan_keyframes`.
    """
    scan = scan or scan_keyframes(path)
    try:
        return _plan(path, count, scan)
    except MediaError:
        if scan.pts is not None:
            raise
        log.info("%s: its sample index did not lead to the keyframes; demuxing it instead", Path(path).name)
        return _plan(path, count, scan_keyframes(path, index=False))


def _plan(path: str | Path, count: int | str, scan: KeyframeScan) -> Plan:
    tb, first = scan.time_base, scan.first
    if count == "auto":
        count = max(1, round(scan.duration / AUTO_SECONDS))
    cuts: list[int] = []
    candidates = [] if scan.uncut else [k for k in scan.keyframes if k > first]
    if count > 1 and scan.uncut:
        log.warning("%s", scan.uncut)
    elif count > 1 and not candidates:
        log.warning("%s has a single keyframe: it is one segment (it cannot be cut without re-encoding)",
                    Path(path).name)
    for i in range(1, count if candidates else 1):
        ideal = first + scan.duration / tb * Fraction(i, count)
        j = bisect_left(candidates, ideal)
        near = min(candidates[max(0, j - 1): j + 1], key=lambda k: abs(k - ideal))
        if not cuts or near > cuts[-1]:
            cuts.append(near)
    if candidates and len(cuts) + 1 < count:
        log.warning("%s: %d segments asked, %d made: its keyframes are too far apart", Path(path).name, count,
                    len(cuts) + 1)
    keys = [first, *cuts]
    bounds = scan.resolve(keys)  # presentation timestamps (an index reads these keyframes alone)
    segments = []
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] if i + 1 < len(bounds) else None
        frames = scan.count(keys[i], keys[i + 1] if i + 1 < len(keys) else None)
        segments.append(Segment(i, None if i == 0 else lo * tb - scan.start_time,
                                None if hi is None else hi * tb - scan.start_time, lo, hi, frames))
    return Plan(str(Path(path).resolve()), tb, scan.start_time, scan.frames, len(scan.keyframes), tuple(segments),
                float(scan.duration))
