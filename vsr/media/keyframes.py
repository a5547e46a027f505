"""The keyframe scan of a segment plan: one demux pass over the video stream, nothing decoded."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.errors import MediaError, UsageError, cause
from vsr.media.decode import first_video_stream, input_hint, is_url, open_input
from vsr.media.timestamps import DECODE_ORDER_FORMATS
from vsr.media.trim import timeline_zero

__all__ = ["KeyframeScan", "scan_keyframes"]

# containers that recorders write and people join byte-wise (``cat``): their decode timestamps
# are the stream's own, so one stepping back is a join or damage, not a demuxer's guess
_RECORDING_FORMATS = {"mpegts", "mpeg"}


@dataclass(frozen=True)
class KeyframeScan:
    """What the scan found, on one of two clocks.

    A demux scan knows every frame's presentation timestamp (pts); an MP4/MOV sample index
    knows every sample's decode timestamp (dts) and which are keyframes, and nothing was read.
    ``first`` and ``keyframes`` are on that clock; :meth:`resolve` gives a keyframe's pts (an
    index reads that one sample) and :meth:`count` the frames between two keyframes.

    Attributes:
        path: the input.
        time_base: the video stream's.
        start_time: the input's start time, seconds (FFmpeg's ``-ss`` zero).
        first: the first frame's timestamp (a keyframe's, from an index).
        duration: seconds the video spans (``n`` frames: ``n`` mean frame intervals).
        frames: video frames (packets with a timestamp).
        keyframes: the keyframes' timestamps, sorted.
        pts: every frame's pts, sorted (a demux scan); None from an index.
        positions: each keyframe's place in decode order (an index scan); None from a demux.
        uncut: why the input cannot be cut by time at all ("": it can): its timestamps step back.
    """

    path: str
    time_base: Fraction
    start_time: Fraction
    first: int
    duration: Fraction
    frames: int
    keyframes: list[int]
    pts: list[int] | None = None
    positions: dict[int, int] | None = None
    uncut: str = ""

    def count(self, lo: int, hi: int | None) -> int:
        """Frames from keyframe ``lo`` up to keyframe ``hi`` (None: the end): those presented in
        ``[lo, hi)`` from a demux scan; those decoded from ``lo`` up to ``hi`` from an index (the
        same for closed GOPs; an open GOP's leading frames count after their keyframe)."""
        if self.pts is not None:
            return (bisect_left(self.pts, hi) if hi is not None else len(self.pts)) - bisect_left(self.pts, lo)
        assert self.positions is not None
        return (self.positions[hi] if hi is not None else self.frames) - self.positions[lo]

    def resolve(self, keys: list[int]) -> list[int]:
        """The presentation timestamps of keyframes ``keys`` (from an index: a seek to each and
        one packet read).

        Raises:
            MediaError: a seek that does not land on the keyframe (plan with ``index=False``).
        """
        if self.pts is not None:
            return list(keys)
        container = open_input(self.path)
        try:
            video = first_video_stream(container)
            out = []
            for k in keys:
                container.seek(k, stream=video, backward=False)  # MP4 seeks on the pts clock: the keyframe at or after
                packet = next((p for p in container.demux(video) if p.size), None)
                if packet is None or packet.dts != k or packet.pts is None:
                    raise MediaError(f"{Path(self.path).name}: its index does not lead to keyframe {k}")
                out.append(packet.pts)
            return out
        finally:
            container.close()


def scan_keyframes(path: str | Path, index: bool = True) -> KeyframeScan:
    """The keyframes of the first video stream of ``path`` and its frames, nothing decoded.

    MP4/MOV files hold a sample index: nothing is read but the keyframes the plan cuts at
    (:meth:`KeyframeScan.resolve`), so a film takes a fraction of a second. Other containers
    are demuxed once (the time is the disk's: packets are read, not decoded).

    Args:
        index: use an MP4/MOV sample index where there is one (False: always demux).

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
        zero = timeline_zero(container)
        try:
            return (index and _from_index(str(path), container, video, zero)) or _demux(str(path), container, video,
                                                                                          zero, name)
        except av.error.FFmpegError as e:
            raise MediaError(f"{name}: reading the input failed ({cause(e)}); {input_hint(path)}") from e
    finally:
        container.close()


def _from_index(path: str, container: av.container.InputContainer, video: av.video.stream.VideoStream,
                zero: Fraction) -> KeyframeScan | None:
    """The scan from an MP4/MOV sample index (every sample in decode order, its dts and keyframe
    flag), or None when the input has no complete one."""
    if "mov" not in container.format.name.split(",") or not video.frames or not video.duration:
        return None
    entries = video.index_entries
    if len(entries) != video.frames or any(e.is_discard for e in entries) or not entries[0].is_keyframe:
        return None
    positions = {e.timestamp: i for i, e in enumerate(entries) if e.is_keyframe}
    if len(positions) != sum(e.is_keyframe for e in entries):
        return None  # two samples with one dts: not an index to trust
    tb = Fraction(video.time_base)
    return KeyframeScan(path, tb, zero, entries[0].timestamp, video.duration * tb, len(entries), sorted(positions),
                        positions=positions)


def _decode_order_clock(coded: list[tuple[int, int | None, bool]], depth: int) -> tuple[list[int], list[int]]:
    """Frame and keyframe times of decode-order video (AVI) as the decoder gives them
    (:class:`vsr.media.timestamps.InputClock`), from ``(dts, parser's pts, keyframe)`` per packet.

    The ``k``-th frame shown gets the decode time of packet ``k + depth`` (``depth``: the
    decoder's reordering delay; the last ``depth`` frames follow on a frame apart). A keyframe
    is shown no earlier than that of its own packet, later when the parser says so (an open
    GOP's keyframe after its leading frames, which MPEG-4's and MPEG-2's parsers see). The
    parser's guess alone (decode time plus one frame) is a frame early for H.264 with a
    B-pyramid: cut there, the frame before each cut was lost.
    """
    dts = [d for d, _, _ in coded]
    step = (dts[-1] - dts[0]) // (len(dts) - 1) if len(dts) > 1 else 1
    times = dts[depth:] + [dts[-1] + step * (k + 1) for k in range(min(depth, len(dts)))]
    keys = [max(d + depth * step, d if pts is None else pts) for d, pts, key in coded if key]
    return times, keys


def _demux(path: str, container: av.container.InputContainer, video: av.video.stream.VideoStream, zero: Fraction,
           name: str) -> KeyframeScan:
    pts: list[int] = []
    keys: list[int] = []
    missing = 0
    last, back = None, None  # the last decode timestamp; the one after which they stepped back
    if container.format.name in DECODE_ORDER_FORMATS:
        coded = [(p.dts, p.pts, p.is_keyframe) for p in container.demux(video) if p.size and p.dts is not None]
        if coded:
            pts, keys = _decode_order_clock(coded, video.codec_context.reorder_depth)
    else:
        for packet in container.demux(video):
            if packet.pts is None:
                missing += packet.size > 0
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
            if packet.dts is not None:
                if back is None and last is not None and packet.dts < last:
                    back = last
                last = packet.dts
    uncut = ""
    if back is not None and container.format.name in _RECORDING_FORMATS:  # a time is no longer one place
        uncut = (f"{name}: its timestamps step back after {float(back * video.time_base - zero):.2f} s (recordings "
                 "joined, or a damaged file), so a time names two places: it is one segment")
    if missing:
        raise MediaError(f"{name}: {missing} video packets carry no timestamp, so it cannot be cut at keyframes; "
                         "run it without --segments")
    if not pts:
        raise MediaError(f"{name}: no video frame could be read; {input_hint(path)}")
    pts.sort()
    tb = Fraction(video.time_base)
    n = len(pts)
    span = (pts[-1] - pts[0]) * tb * n / (n - 1) if n > 1 else Fraction(0)
    return KeyframeScan(path, tb, zero, pts[0], span, n, sorted(set(keys)), pts=pts, uncut=uncut)
