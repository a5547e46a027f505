"""Join encoded video parts without re-encoding, and mux the source's other streams once.

Presentation timestamps are the source's (each part's plus the ticks its range decoder took
off). Decode timestamps follow from the joined packets themselves: with ``D`` the largest
reordering seen (how many packets any packet is decoded ahead of its display rank), packet
``g`` gets the ``(g - D)``-th smallest pts of the whole stream, and the first ``D`` packets
step back from the first pts by the smallest pts interval. So DTS are strictly increasing
across the joins, never above the PTS, and nothing comes from an assumed frame rate.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av

from vsr.config import TimeRange
from vsr.errors import MediaError, cause
from vsr.frames import ColorTags
from vsr.media.decode import first_video_stream, open_input
from vsr.media.encode import carry_over, tag_for_apple
from vsr.media.source import SourceInfo
from vsr.media.streams import Preroll
from vsr.media.trim import enter_range

__all__ = ["PartScan", "scan_part", "decode_times", "concat"]


@dataclass
class PartScan:
    """One part as the join sees it.

    Attributes:
        pts: its video packets' timestamps in the source's time base, decode order.
        codec: what must match between parts: codec, size, pixel format, extradata.
    """

    pts: list[int] = field(default_factory=list)
    codec: tuple = ()


def _ticks(ts: int, part_tb: Fraction, time_base: Fraction) -> int:
    return round(ts * part_tb / time_base)


def scan_part(path: Path, time_base: Fraction, shift: int) -> PartScan:
    """Read a part's packet headers (no decoding).

    Args:
        time_base: the source video's time base.
        shift: ticks to add to the part's timestamps to get the source's.

    Raises:
        MediaError: the part cannot be read as video.
    """
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise MediaError(f"{path.name}: no video stream")
            v = c.streams.video[0]
            cc = v.codec_context
            scan = PartScan(codec=(cc.name, cc.width, cc.height, cc.format.name if cc.format else None,
                                   bytes(cc.extradata or b"")))
            for p in c.demux(v):
                if p.size:
                    if p.pts is None:
                        raise MediaError(f"{path.name}: a packet without timestamp")
                    scan.pts.append(_ticks(p.pts, v.time_base, time_base) + shift)
            return scan
    except av.error.FFmpegError as e:
        raise MediaError(f"{path.name}: unreadable ({cause(e)})") from e


def decode_times(parts: list[list[int]]) -> list[int]:
    """DTS for the joined packets (see the module), from each part's pts in decode order.

    Raises:
        MediaError: two packets with one pts, or parts whose times overlap.
    """
    ordered: list[int] = []
    delay = 0
    for pts in parts:
        order = sorted(pts)
        if len(set(order)) != len(order) or (ordered and order and order[0] <= ordered[-1]):
            raise MediaError("the parts' timestamps repeat or overlap: they do not come from one plan")
        rank = {p: len(ordered) + r for r, p in enumerate(order)}
        delay = max([delay] + [len(ordered) + i - rank[p] for i, p in enumerate(pts)])
        ordered += order
    if not ordered:
        return []
    step = min((b - a for a, b in zip(ordered, ordered[1:])), default=1)
    return [ordered[g - delay] if g >= delay else ordered[0] - (delay - g) * step for g in range(len(ordered))]


def _video_packets(parts: list[tuple[Path, int]], out: av.video.stream.VideoStream, time_base: Fraction,
                   dts: list[int]) -> Iterator[tuple[float, bool, av.Packet]]:
    g = 0
    for path, shift in parts:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            for p in c.demux(v):
                if not p.size:
                    continue
                p.pts = _ticks(p.pts, v.time_base, time_base) + shift
                p.dts = dts[g]
                p.duration = _ticks(p.duration or 0, v.time_base, time_base)
                p.time_base = time_base
                p.stream = out
                g += 1
                yield float(p.dts * time_base), True, p


def _source_packets(path: Path, keep: Callable[[int], bool],
                    time_range: TimeRange | None = None) -> Iterator[tuple[float, bool, av.Packet | Preroll]]:
    """The source's packets of the streams ``keep`` takes, keyed by their time in seconds; with
    ``time_range`` cut and moved to it as an unsegmented ranged run cuts them
    (:meth:`vsr.media.trim.Trim.take`: the same seek, the same packets, the same timestamps)."""
    c = open_input(path)
    try:
        wanted = [s for s in c.streams if keep(s.index)]
        if not wanted:
            return
        if time_range is None:
            for p in c.demux(wanted):
                ts = p.dts if p.dts is not None else p.pts
                if ts is not None:
                    yield float(ts * p.time_base), False, p
            return
        yield from _ranged_packets(path, c, time_range, keep)
    finally:
        c.close()


def _ranged_packets(path: Path, c: av.container.InputContainer, time_range: TimeRange,
                    keep: Callable[[int], bool]) -> Iterator[tuple[float, bool, av.Packet | Preroll]]:
    opened: list[av.container.InputContainer] = []

    def reopen() -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
        opened.append(open_input(path))
        return opened[-1], first_video_stream(opened[-1])

    try:
        (c, video), trim, pending = enter_range((c, first_video_stream(c)), time_range, path.name, True, reopen)
        past_end = False  # a video packet at or after the range's end went by
        for p in itertools.chain(pending, c.demux()):
            if p.stream.index == video.index:
                past_end = past_end or (trim.end is not None and p.pts is not None
                                        and p.pts * p.time_base >= trim.end)
            elif keep(p.stream.index) and (p.dts is not None or p.pts is not None):
                for item in trim.take(p):
                    q = item.packet if isinstance(item, Preroll) else item
                    ts = q.dts if q.dts is not None else q.pts
                    yield float((ts or 0) * q.time_base), False, item
            if past_end and trim.drained(p):
                return
    finally:
        for o in opened:
            o.close()


def concat(dst: Path, container_format: str | None, source_path: Path, source: SourceInfo, color: ColorTags,
           sample_aspect_ratio: Fraction | None, parts: list[tuple[Path, int]], time_base: Fraction,
           dts: list[int], time_range: TimeRange | None = None) -> int:
    """Write ``dst``: the parts' video packets in order, and the source's other streams.

    Args:
        source: the source's snapshot (rotation, tags, chapters, streams to carry over).
        color: the colour tags the parts' frames carried.
        sample_aspect_ratio: the output's pixel aspect ratio (None: square, untagged).
        parts: ``(part file, ticks to add to its timestamps)`` in order.
        time_base: the source video's time base.
        dts: :func:`decode_times` of the parts.
        time_range: the plan's range: the other streams are cut to it (None: whole).

    Returns:
        Video packets written.
    """
    try:
        output = av.open(str(dst), "w", format=container_format)
    except (ValueError, av.error.FFmpegError) as e:
        raise MediaError(f"{dst}: cannot write this container ({cause(e)})") from e
    try:
        with av.open(str(parts[0][0])) as first:
            video = output.add_stream_from_template(first.streams.video[0], opaque=True)  # no encoder needed
        video.time_base = time_base
        cc = video.codec_context
        tag_for_apple(cc, cc.name, output)  # as an unsegmented run's
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = color.range, color.space, color.primaries, \
            color.trc
        if sample_aspect_ratio:
            cc.sample_aspect_ratio = sample_aspect_ratio
            video.sample_aspect_ratio = sample_aspect_ratio
        passthrough = carry_over(output, video, source)
        written = 0
        merged = heapq.merge(_video_packets(parts, video, time_base, dts),
                             _source_packets(source_path, passthrough.__contains__, time_range), key=lambda x: x[0])
        for _, is_video, packet in merged:
            if is_video:
                output.mux(packet)
                written += 1
            else:
                passthrough.mux(packet)
        passthrough.flush()
        output.close()
        return written
    except BaseException:
        try:
            output.close()
        except Exception:  # noqa: BLE001 - best effort on an error path
            pass
        raise
