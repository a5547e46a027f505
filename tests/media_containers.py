"""Container-level test media made with PyAV: several audio tracks with languages and
dispositions, bitmap subtitles, streams that start late or early.

FFmpeg has encoders for DVD (``dvdsub``) and DVB (``dvbsub``) bitmap subtitles, but PyAV
can only build *text* subtitle sets to feed them, and FFmpeg has no PGS encoder at all.
So the bitmap subtitle packets here are written byte by byte after the formats'
specifications (:func:`dvd_packet`, :func:`dvb_packet`, :func:`pgs_packet`): a striped
rectangle each, small and valid — :func:`bitmap_rects` decodes them with FFmpeg's own
decoders to prove it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np

from media import video_frame

__all__ = ["Track", "Sub", "Written", "write_media", "dvd_packet", "dvb_packet", "pgs_packet", "bitmap_rects",
           "stream_table", "first_times"]

@dataclass(frozen=True)
class Track:
    """An audio track to encode: a tone, as long as the video.

    Attributes:
        codec: FFmpeg encoder name (``aac``, ``ac3``, ``wmav2``, ``libopus``, ``libopencore_amrnb``...).
        language: ISO 639-2 tag, or None.
        disposition: names of ``av.stream.Disposition`` flags (``("default", "forced")``).
        title: track title, or None.
        rate, layout: sample rate and channel layout.
        start: seconds of the first sample (added to the video's start).
    """

    codec: str = "aac"
    language: str | None = None
    disposition: tuple[str, ...] = ()
    title: str | None = None
    rate: int = 48000
    layout: str = "mono"
    start: float = 0.0


@dataclass(frozen=True)
class Sub:
    """A bitmap subtitle track: one cue per ``cues`` entry ``(start_ms, duration_ms)``.

    Attributes:
        codec: ``dvd_subtitle``, ``dvb_subtitle`` or ``hdmv_pgs_subtitle``.
    """

    codec: str = "dvd_subtitle"
    language: str | None = "eng"
    disposition: tuple[str, ...] = ()
    cues: tuple[tuple[int, int], ...] = ((0, 100), (120, 60))


@dataclass(frozen=True)
class Written:
    """What :func:`write_media` put in a file.

    Attributes:
        path: the file.
        frames: video frames.
        size: coded ``(width, height)``.
        video_start: presentation time of the first frame, seconds.
        sub_payloads: per subtitle track, the bytes of each packet written.
    """

    path: Path
    frames: int
    size: tuple[int, int]
    video_start: Fraction = Fraction(0)
    sub_payloads: list[list[bytes]] = field(default_factory=list)


def _flags(names: Sequence[str]) -> av.stream.Disposition:
    d = av.stream.Disposition(0)
    for n in names:
        d |= av.stream.Disposition[n]
    return d


def _tone(track: Track, seconds: float, index: int) -> list[av.AudioFrame]:
    """A sine (a different pitch per track) in fltp, 1024-sample frames; the encoder re-chunks."""
    n = int(track.rate * seconds)
    t = np.arange(n) / track.rate
    x = (0.2 * np.sin(2 * np.pi * (220 * (index + 1)) * t)).astype(np.float32)
    channels = av.AudioLayout(track.layout).nb_channels
    frames = []
    for s in range(0, n, 1024):
        chunk = np.repeat(x[None, s : s + 1024], channels, axis=0)
        f = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=track.layout)
        f.sample_rate, f.pts, f.time_base = track.rate, s, Fraction(1, track.rate)
        frames.append(f)
    return frames


def write_media(
    path: Path,
    *,
    format: str | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    size: tuple[int, int] = (64, 48),
    frames: int = 5,
    rate: Fraction = Fraction(25),
    time_base: Fraction | None = None,
    sar: Fraction | None = None,
    options: dict[str, str] | None = None,
    start: float = 0.0,
    audio: Sequence[Track] = (),
    subs: Sequence[Sub] = (),
) -> Written:
    """Encode the test sequence plus audio tracks and bitmap subtitles, interleaved by time.

    Args:
        format: FFmpeg muxer (None: from the suffix).
        codec, pix_fmt, size, frames, rate, sar, options: the video stream (``options``: encoder
            private options).
        time_base: the video stream's time base (default ``1 / rate``).
        start: presentation time of the first video frame, seconds (every stream shifts by it).
        audio, subs: extra tracks, in this order after the video.
    """
    tb = time_base or 1 / Fraction(rate)
    out = av.open(str(path), "w", format=format)
    packets: list[tuple[Fraction, av.Packet]] = []
    payloads: list[list[bytes]] = []
    try:
        v = out.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = size[0], size[1], pix_fmt
        v.time_base = v.codec_context.time_base = tb
        if sar is not None:
            v.codec_context.sample_aspect_ratio = sar
        if options:
            v.codec_context.options = dict(options)
        astreams = []
        for i, track in enumerate(audio):
            a = out.add_stream(track.codec, rate=track.rate)
            a.layout = track.layout
            if track.codec == "wmav2":
                a.bit_rate = 64000  # it has no default
            a.time_base = Fraction(1, track.rate)
            _tag(a, track.language, track.title, track.disposition)
            astreams.append(a)
        sstreams = []
        for sub in subs:
            s = out.add_mux_stream(sub.codec)
            s.time_base = Fraction(1, 1000) if sub.codec != "dvb_subtitle" else Fraction(1, 90000)
            _tag(s, sub.language, None, sub.disposition)
            sstreams.append(s)
        seconds = float(frames / Fraction(rate))
        for i in range(frames):
            f = video_frame(size[0], size[1], i, pix_fmt)
            f.pts = round((start + i / Fraction(rate)) / tb)
            f.time_base = tb
            for p in v.encode(f):
                packets.append((_when(p), p))
        packets += [(_when(p), p) for p in v.encode(None)]
        for i, (track, a) in enumerate(zip(audio, astreams)):
            shift = round((start + track.start) * track.rate)
            for f in _tone(track, seconds, i):
                f.pts += shift
                packets += [(_when(p), p) for p in a.encode(f)]
            packets += [(_when(p), p) for p in a.encode(None)]
        for sub, s in zip(subs, sstreams):
            made = []
            for k, (t0, dur) in enumerate(sub.cues):
                data = {"dvd_subtitle": dvd_packet, "dvb_subtitle": dvb_packet,
                        "hdmv_pgs_subtitle": pgs_packet}[sub.codec](size, k, dur)
                made.append(data)
                p = av.Packet(data)
                p.time_base = s.time_base
                p.pts = p.dts = round((Fraction(start) + Fraction(t0, 1000)) / s.time_base)
                p.duration = round(Fraction(dur, 1000) / s.time_base)
                p.stream = s
                packets.append((_when(p), p))
            payloads.append(made)
        packets.sort(key=lambda x: x[0])
        for _, p in packets:
            out.mux(p)
    finally:
        out.close()
    return Written(Path(path), frames, size, Fraction(start).limit_denominator(1000), payloads)


def _when(p: av.Packet) -> Fraction:
    t = p.dts if p.dts is not None else p.pts
    return Fraction(t or 0) * p.time_base


def _tag(s, language, title, disposition) -> None:
    if language:
        s.metadata["language"] = language
    if title:
        s.metadata["title"] = title
    s.disposition = _flags(disposition)


# --- bitmap subtitle packets -----------------------------------------------------------------

def _rect(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` of the subtitle box: the lower middle of the picture."""
    w, h = size
    return w // 4, h - h // 3, w // 2, h // 4


def dvd_packet(size: tuple[int, int], index: int, duration_ms: int) -> bytes:
    """A DVD subpicture unit (SPU): a box of 4-line stripes in colours 1-3, shown at once and
    hidden after ``duration_ms``."""
    x, y, w, h = _rect(size)
    lines = [bytes([0, 1 + (r // 4 + index) % 3]) for r in range(h)]  # 16-bit code 0..0cc: colour cc to line end
    top, bottom = b"".join(lines[0::2]), b"".join(lines[1::2])
    off_top, off_bottom = 4, 4 + len(top)
    ctrl = 4 + len(top) + len(bottom)
    first = struct.pack(">HH", 0, 0) + bytes([0x03, 0x32, 0x10, 0x04, 0xFF, 0xF0, 0x05]) + bytes([
        x >> 4, (x & 15) << 4 | (x + w - 1) >> 8, (x + w - 1) & 255,
        y >> 4, (y & 15) << 4 | (y + h - 1) >> 8, (y + h - 1) & 255]) + struct.pack(
        ">BHH", 0x06, off_top, off_bottom) + bytes([0x01, 0xFF])
    second_at = ctrl + len(first)
    first = struct.pack(">HH", 0, second_at) + first[4:]
    second = struct.pack(">HHBB", duration_ms * 90 >> 10, second_at, 0x02, 0xFF)
    body = top + bottom + first + second
    return struct.pack(">HH", 4 + len(body), ctrl) + body


def _dvb_segment(kind: int, data: bytes) -> bytes:
    return struct.pack(">BBHH", 0x0F, kind, 1, len(data)) + data


def dvb_packet(size: tuple[int, int], index: int, duration_ms: int) -> bytes:
    """A DVB subtitle display set (ETSI EN 300 743): display definition, page, region, CLUT,
    one 8-bit object of stripes, end of display set."""
    x, y, w, h = _rect(size)
    width, height = size
    dds = _dvb_segment(0x14, struct.pack(">BHH", 0, width - 1, height - 1))
    timeout = max(1, duration_ms // 1000 + 1)
    page = _dvb_segment(0x10, struct.pack(">BBBBHH", timeout, (index & 15) << 4 | 0x08, 0, 0, x, y))
    region = _dvb_segment(0x11, struct.pack(">BBHHBBBBHHH", 0, (index & 15) << 4, w, h, 0x6C, 0, 0, 0,
                                            1, 0, 0))
    clut = bytearray([0, (index & 15) << 4])
    for entry, (yy, cr, cb) in enumerate([(16, 128, 128), (235, 128, 128), (81, 240, 90), (41, 110, 240)]):
        clut += bytes([entry, 0x20 | 0x01, yy, cr, cb, 0 if entry else 255])  # 8-bit entry, full range
    clut_seg = _dvb_segment(0x12, bytes(clut))

    def field(rows: range) -> bytes:
        out = bytearray()
        for r in rows:  # 8-bit/pixel code string: run of w pixels of one colour, end of string, end of line
            out += bytes([0x12, 0x00, 0x80 | w, 1 + (r // 4 + index) % 3, 0x00, 0x00, 0xF0])
        return bytes(out)

    top, bottom = field(range(0, h, 2)), field(range(1, h, 2))
    obj = _dvb_segment(0x13, struct.pack(">HBHH", 1, (index & 15) << 4, len(top), len(bottom)) + top + bottom)
    end = _dvb_segment(0x80, b"")
    return dds + page + region + clut_seg + obj + end  # as Matroska stores it (MPEG-TS adds 0x20 0x00 ... 0xff)


def _pgs_segment(kind: int, data: bytes) -> bytes:
    return struct.pack(">BH", kind, len(data)) + data


def pgs_packet(size: tuple[int, int], index: int, duration_ms: int) -> bytes:
    """A Blu-ray PGS display set as Matroska carries it (segments without the ``PG`` headers of
    .sup files): composition, window, palette, one object of stripes, end."""
    x, y, w, h = _rect(size)
    width, height = size
    pcs = _pgs_segment(0x16, struct.pack(">HHBHBBBBHBBHH", width, height, 0x10, index, 0x80, 0, 0, 1,
                                         0, 0, 0, x, y))
    wds = _pgs_segment(0x17, struct.pack(">BBHHHH", 1, 0, x, y, w, h))
    pds = _pgs_segment(0x14, bytes([0, 0]) + b"".join(
        bytes([i, yy, cr, cb, 255]) for i, (yy, cr, cb) in enumerate([(235, 128, 128), (81, 240, 90),
                                                                        (41, 110, 240)], start=1)))
    rle = bytearray()
    for r in range(h):  # 0x00 0b10LLLLLL C: L pixels of colour C; 0x00 0x00: end of line
        rle += bytes([0x00, 0x80 | w, 1 + (r // 4 + index) % 3, 0x00, 0x00])
    body = struct.pack(">HH", w, h) + bytes(rle)
    ods = _pgs_segment(0x15, struct.pack(">HBB", 0, 0, 0xC0) + len(body).to_bytes(3, "big") + body)
    return pcs + wds + pds + ods + _pgs_segment(0x80, b"")


# --- reading ---------------------------------------------------------------------------------

def bitmap_rects(path: Path, index: int) -> list[tuple[int, int]]:
    """``(width, height)`` of every bitmap FFmpeg's decoder draws for subtitle stream ``index``."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams[index]
        for p in c.demux(s):
            if not p.size:
                continue
            got = s.codec_context.decode2(p)
            for rect in got or []:
                if getattr(rect, "type", None) == b"bitmap" and rect.width:
                    out.append((rect.width, rect.height))
    return out


def stream_table(path: Path) -> list[tuple[str, str, str | None, int]]:
    """``(type, codec, language, disposition flags)`` of every stream, in order."""
    with av.open(str(path)) as c:
        return [(s.type, s.codec_context.name if s.codec_context else "", s.metadata.get("language"),
                 int(s.disposition)) for s in c.streams]


def first_times(path: Path) -> dict[str, Fraction]:
    """Seconds of the earliest packet pts of the first stream of each type, plus ``start``
    (the container's start time)."""
    out: dict[str, Fraction] = {}
    with av.open(str(path)) as c:
        first = {}
        for s in c.streams:
            first.setdefault(s.type, s.index)
        for p in c.demux():
            if p.pts is not None and first.get(p.stream.type) == p.stream.index:
                t = Fraction(p.pts) * p.time_base
                out[p.stream.type] = min(out.get(p.stream.type, t), t)
        if c.start_time is not None:
            out["start"] = Fraction(c.start_time, 1_000_000)
    return out
