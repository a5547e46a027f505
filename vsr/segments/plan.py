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

from vsr.config import TimeRange, seconds_text
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
        range: the time range the segments cover (``--start``/``--end``), None: the whole
            source. The output then starts at zero at the range's start, as an unsegmented
            ranged run's does.
    """

    source: str
    time_base: Fraction
    start_time: Fraction
    frames: int
    keyframes: int
    segments: tuple[Segment, ...]
    duration: float = 0.0
    range: TimeRange | None = None

    def shift(self, segment: Segment) -> int:
        """Ticks (source time base) to add to ``segment``'s part timestamps to get the output's:
        the range decoder took off its start on the streams' clock (see :mod:`vsr.media.trim`),
        which gives the source's timestamps back; a ranged plan's output then starts at zero
        at the range's start."""
        back = round((self.start_time + (segment.start or 0)) / self.time_base)
        if self.range is None:
            return back
        return back - round((self.start_time + (self.range.start or 0)) / self.time_base)

    def to_json(self) -> dict[str, Any]:
        d = {"source": self.source, "time_base": str(self.time_base), "start_time": str(self.start_time),
             "frames": self.frames, "keyframes": self.keyframes, "duration": round(self.duration, 6),
             "segments": [s.to_json() for s in self.segments]}
        if self.range is not None:
            d["range"] = [None if t is None else str(t) for t in (self.range.start, self.range.end)]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        rng = d.get("range")
        return cls(d["source"], Fraction(d["time_base"]), Fraction(d["start_time"]), d["frames"], d["keyframes"],
                   tuple(Segment.from_json(s) for s in d["segments"]), d.get("duration", 0.0),
                   None if rng is None else TimeRange(*(None if t is None else Fraction(t) for t in rng)))

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


def plan_segments(path: str | Path, count: int | str, scan: KeyframeScan | None = None,
                  time_range: TimeRange | None = None) -> Plan:
    """Split ``path`` at source keyframes into ``count`` ranges (``"auto"``: see the module).

    The cut before segment ``i`` is the keyframe nearest to ``i / count`` of the source's
    duration; keyframes closer together than that leave fewer segments (with a warning).

    Args:
        time_range: split only this part of the source: the first segment starts at the
            range's start (frame-exact, as the range decoder keeps it), the cuts are keyframes
            inside the range, the last segment ends at the range's end. Needs every frame's
            timestamp: the source is demuxed (an MP4 index is not enough).

    Raises:
        MediaError: see :func:`vsr.media.keyframes.scan_keyframes`; a range with no frame.
    """
    if time_range is not None:
        return _plan_range(path, count, scan if scan is not None and scan.pts is not None
                           else scan_keyframes(path, index=False), time_range)
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
    candidates = [] if scan.uncut else [k for k in scan.keyframes if k > first]
    if count > 1 and scan.uncut:
        log.warning("%s", scan.uncut)
    elif count > 1 and not candidates:
        log.warning("%s has a single keyframe: it is one segment (it cannot be cut without re-encoding)",
                    Path(path).name)
    cuts = _cuts(path, count, candidates, first, scan.duration / tb)
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


def _cuts(path: str | Path, count: int, candidates: list[int], first: int, span: Fraction) -> list[int]:
    """The keyframes (of ``candidates``, sorted) nearest to each ``i / count`` of ``span`` ticks
    from ``first``; fewer when keyframes are too far apart (with a warning)."""
    cuts: list[int] = []
    for i in range(1, count if candidates else 1):
        ideal = first + span * Fraction(i, count)
        j = bisect_left(candidates, ideal)
        near = min(candidates[max(0, j - 1): j + 1], key=lambda k: abs(k - ideal))
        if not cuts or near > cuts[-1]:
            cuts.append(near)
    if candidates and len(cuts) + 1 < count:
        log.warning("%s: %d segments asked, %d made: its keyframes are too far apart", Path(path).name, count,
                    len(cuts) + 1)
    return cuts


def _plan_range(path: str | Path, count: int | str, scan: KeyframeScan, rng: TimeRange) -> Plan:
    """:func:`plan_segments` of the frames inside ``rng`` (a demux scan: every pts known)."""
    assert scan.pts is not None
    tb, zero = scan.time_base, scan.start_time
    lo, hi = rng.start or Fraction(0), rng.end
    inside = [p for p in scan.pts if p * tb - zero >= lo and (hi is None or p * tb - zero < hi)]
    if not inside:
        last = scan.pts[-1] * tb - zero
        if last < lo:  # as an unsegmented run says it
            raise MediaError(f"{Path(path).name}: --start {seconds_text(lo)} is past the end of the input (its last "
                             f"frame is at {seconds_text(last)})")
        raise MediaError(f"{Path(path).name}: the range {rng} holds no video frame of the input")
    n = len(inside)
    duration = scan.duration * n / scan.frames
    if count == "auto":
        count = max(1, round(duration / AUTO_SECONDS))
    candidates = [] if scan.uncut else [k for k in scan.keyframes if inside[0] < k <= inside[-1]]
    if count > 1 and scan.uncut:
        log.warning("%s", scan.uncut)
    elif count > 1 and not candidates:
        log.warning("%s: no keyframe inside the range %s: it is one segment", Path(path).name, rng)
    span = (inside[-1] - inside[0]) * Fraction(n, n - 1) if n > 1 else Fraction(0)
    cuts = _cuts(path, count, candidates, inside[0], span)
    bounds = [inside[0], *cuts]
    segments = []
    for i, b in enumerate(bounds):
        nxt = bounds[i + 1] if i + 1 < len(bounds) else None
        frames = (bisect_left(inside, nxt) if nxt is not None else n) - bisect_left(inside, b)
        segments.append(Segment(i, rng.start if i == 0 else b * tb - zero, hi if nxt is None else nxt * tb - zero,
                                b, nxt, frames))
    return Plan(str(Path(path).resolve()), tb, zero, n, len(scan.keyframes), tuple(segments), float(duration), rng)
