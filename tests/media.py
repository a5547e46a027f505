"""Test media made in code with PyAV, and readers that check what a file holds.

Clips are tiny (tens of pixels, a few frames) so a pipeline run takes well under a second,
but their pictures have real structure: a diagonal gradient, a moving disc, a moving dark
bar and text drawn with Pillow's font, with smooth colour gradients in the chroma planes.

The readers here use PyAV directly, never vsr, so a test compares vsr's output with an
independent view of the input.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "Color", "BT709", "BT2020_PQ", "FULL_RANGE", "Clip", "VideoInfo",
    "picture", "video_frame", "write_video", "read_video", "plane_array", "packets", "stream_codecs",
    "chapters", "languages", "sha256", "corrupt_packets", "truncate_before_moov", "write_audio_only", "psnr",
]

# --- colour ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Color:
    """FFmpeg colour enum values (AVColorRange, AVColorSpace, AVColorPrimaries, AVColorTransferCharacteristic)."""

    range: int = 1
    space: int = 1
    primaries: int = 1
    trc: int = 1


BT709 = Color(1, 1, 1, 1)
BT2020_PQ = Color(1, 9, 9, 16)
FULL_RANGE = Color(2, 1, 1, 1)

# --- pictures --------------------------------------------------------------------------------

_FONT = ImageFont.load_default()


def picture(width: int, height: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame ``index`` of the test sequence as float planes at full resolution.

    Returns:
        ``(y, u, v)``, each ``(height, width)`` float64: y in [0, 1], u and v in [-0.5, 0.5].
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    y = 0.15 + 0.45 * (0.7 * xx / max(width - 1, 1) + 0.3 * yy / max(height - 1, 1))
    r = max(3.0, min(width, height) / 5)
    cx, cy = (width * 0.25 + 3 * index) % width, height * 0.6
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    y[disc] = 0.85
    bar = np.abs(xx - (width * 0.75 - 2 * index) % width) < 1.5
    y[bar] = 0.0
    text = Image.new("L", (width, height))
    ImageDraw.Draw(text).text((1 + index % 5, 0 + index % 3), "vsr 42", fill=255, font=_FONT)
    y = np.where(np.asarray(text) > 127, 1.0, y)
    u = 0.35 * (xx / max(width - 1, 1) - 0.5)
    v = 0.35 * (0.5 - yy / max(height - 1, 1))
    u[disc], v[disc] = -0.3, 0.25
    return y, u, v


def _code(x: np.ndarray, depth: int, full: bool, chroma: bool) -> np.ndarray:
    """Float samples -> integer code values at ``depth`` bits, limited or full range."""
    one = 1 << (depth - 8)
    if full:
        c = (x + 0.5 if chroma else x) * ((1 << depth) - 1)
    else:
        c = (128 + 224 * x) * one if chroma else (16 + 219 * x) * one
    return np.clip(np.rint(c), 0, (1 << depth) - 1).astype(np.uint8 if depth == 8 else np.uint16)


def _subsample(x: np.ndarray, fw: int, fh: int) -> np.ndarray:
    """Box-average a full-size plane by ``fw`` x ``fh`` (edge blocks partial, sizes rounded up)."""
    h, w = x.shape
    ph, pw = -h % fh, -w % fw
    x = np.pad(x, ((0, ph), (0, pw)), mode="edge")
    return x.reshape(x.shape[0] // fh, fh, x.shape[1] // fw, fw).mean(axis=(1, 3))


def plane_array(plane, dtype) -> np.ndarray:
    """One plane of an ``av.VideoFrame`` as a ``(h, w)`` array (line padding dropped, copied)."""
    dtype = np.dtype(dtype)
    a = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    return a[:, : plane.width].copy()


def _format_info(pix_fmt: str) -> tuple[int, int, int, bool]:
    """``(depth, chroma_w_factor, chroma_h_factor, gray)`` of a planar YUV or gray format."""
    fmt = av.VideoFormat(pix_fmt)
    depth = fmt.components[0].bits
    gray = len(fmt.components) == 1
    return depth, 16 // fmt.chroma_width(16), 16 // fmt.chroma_height(16), gray


def video_frame(width: int, height: int, index: int, pix_fmt: str, full_range: bool | None = None) -> av.VideoFrame:
    """Frame ``index`` of the test sequence as an ``av.VideoFrame`` in a planar YUV or gray format."""
    full = pix_fmt.startswith("yuvj") if full_range is None else full_range
    depth, fw, fh, gray = _format_info(pix_fmt)
    y, u, v = picture(width, height, index)
    planes = [_code(y, depth, full, False)]
    if not gray:
        planes += [_code(_subsample(c, fw, fh), depth, full, True) for c in (u, v)]
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, planes):
        dst = np.frombuffer(plane, data.dtype).reshape(plane.height, plane.line_size // data.itemsize)
        dst[:, : plane.width] = data
    return frame


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """A generated file and what was put into it.

    Attributes:
        path: the file.
        frames: video frames written.
        size: ``(width, height)``.
        pix_fmt: pixel format given to the encoder.
        times: presentation time of each frame in seconds, as written.
    """

    path: Path
    frames: int
    size: tuple[int, int]
    pix_fmt: str
    times: tuple[Fraction, ...] = ()


def _audio(container, rate: int, seconds: float):
    stream = container.add_stream("aac", rate=rate)
    stream.layout = "mono"
    stream.metadata["language"] = "fra"
    n = int(rate * seconds)
    t = np.arange(n) / rate
    samples = (0.25 * np.sin(2 * np.pi * (300 + 400 * t) * t)).astype(np.float32)
    frames = []
    for start in range(0, n, 1024):
        f = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
        f.sample_rate, f.pts, f.time_base = rate, start, Fraction(1, rate)
        frames.append(f)
    return stream, frames


def write_video(
    path: Path,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    size: tuple[int, int] = (64, 48),
    frames: int = 6,
    rate: Fraction = Fraction(25),
    time_base: Fraction | None = None,
    pts: Sequence[int] | None = None,
    options: dict[str, str] | None = None,
    color: Color = BT709,
    rotation: int = 0,
    sar: Fraction | None = None,
    audio: bool = False,
    subtitles: Sequence[tuple[int, int, str]] = (),
    subtitle_codec: str = "subrip",
    attachment: tuple[str, str, bytes] | None = None,
    chapters: Sequence[tuple[int, int, str]] = (),
    metadata: dict[str, str] | None = None,
    video_metadata: dict[str, str] | None = None,
    klv: bool = False,
    container_format: str | None = None,
    picture_index=lambda i: i,
) -> Clip:
    """Encode the test sequence to ``path`` and return what was written.

    Args:
        codec, pix_fmt, size, frames: the video stream.
        rate: nominal frame rate; with ``pts`` None frames are spaced ``1 / rate`` apart.
        time_base: the video time base (default ``1 / rate``).
        pts: explicit presentation timestamps in ``time_base`` units (variable frame rate).
        options: encoder private options (``{"crf": "0"}``, ``{"flags": "+ildct+ilme"}`` ...).
        color: tags written to the codec context and every frame.
        rotation: display rotation in degrees, counter-clockwise (display matrix side data).
        sar: sample aspect ratio (anamorphic video), written in the codec context.
        audio: add an AAC mono stream as long as the video, language ``fra``.
        subtitles: ``(start_ms, duration_ms, text)`` cues, muxed as raw packets, language ``eng``.
        subtitle_codec: ``subrip`` (text as it is) or ``ass`` (Matroska ASS packets: give the
            ``ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text`` line as text).
        attachment: ``(filename, mimetype, data)`` embedded in the header (Matroska only).
        chapters: ``(start_ms, end_ms, title)``.
        metadata: container (global) metadata.
        video_metadata: video stream tags (``{"timecode": "01:00:00:00"}`` makes the MOV/MP4
            muxers write a timecode track).
        klv: add a KLV data stream with one 16-byte packet per frame (as surveillance and
            aerial footage carries), at the frames' times.
        picture_index: maps the frame number to the picture of the sequence drawn.
    """
    width, height = size
    tb = time_base or Fraction(1) / rate
    stamps = list(pts) if pts is not None else [round(i / rate / tb) for i in range(frames)]
    out = av.open(str(path), "w", format=container_format)
    try:
        if metadata:
            out.metadata.update(metadata)
        v = out.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        v.time_base = tb
        cc = v.codec_context
        cc.time_base = tb
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = (
            color.range, color.space, color.primaries, color.trc)
        if options:
            cc.options = dict(options)
        if rotation:
            v.set_display_rotation(rotation)
        if sar is not None:
            cc.sample_aspect_ratio = sar
        v.metadata.update(video_metadata or {})
        d = out.add_data_stream("klv") if klv else None
        a = a_frames = None
        if audio:
            a, a_frames = _audio(out, 48000, float(stamps[-1] * tb) + 0.1)
        s = None
        if subtitles:
            s = out.add_mux_stream(subtitle_codec)
            s.time_base = Fraction(1, 1000)
            s.metadata["language"] = "eng"
        if attachment:
            out.add_attachment(*attachment)
        if chapters:
            out.set_chapters([{"id": i + 1, "start": a0, "end": b0, "time_base": Fraction(1, 1000),
                               "metadata": {"title": t}} for i, (a0, b0, t) in enumerate(chapters)])
        for i, p in enumerate(stamps):
            f = video_frame(width, height, picture_index(i), pix_fmt, full_range=color.range == 2)
            f.color_range, f.colorspace, f.color_primaries, f.color_trc = (
                color.range, color.space, color.primaries, color.trc)
            f.pts, f.time_base = p, tb
            out.mux(v.encode(f))
            if d is not None:
                packet = av.Packet(bytes([6, 14, 43, 52]) + bytes([i % 256]) * 12)
                packet.pts = packet.dts = p
                packet.time_base, packet.stream = tb, d
                out.mux(packet)
        out.mux(v.encode(None))
        if a is not None:
            for f in a_frames:
                out.mux(a.encode(f))
            out.mux(a.encode(None))
        for start, duration, text in subtitles:
            packet = av.Packet(text.encode("utf-8"))
            packet.pts = packet.dts = start
            packet.duration = duration
            packet.time_base = Fraction(1, 1000)
            packet.stream = s
            out.mux(packet)
    finally:
        out.close()
    return Clip(Path(path), len(stamps), size, pix_fmt, tuple(Fraction(p) * tb for p in stamps))


def write_clip(path: Path, width: int = 64, height: int = 48, frames: int = 4, *, codec: str = "libx264",
               pix_fmt: str = "yuv420p", rate: int = 25, rotation: int = 0,
               sar: Fraction | None = None) -> Path:
    """:func:`write_video` in short, for tests that need many small files: makes the folder,
    libx264 runs ultrafast. Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, codec=codec, pix_fmt=pix_fmt, size=(width, height), frames=frames, rate=Fraction(rate),
                rotation=rotation, sar=sar, options={"preset": "ultrafast"} if codec == "libx264" else None)
    return path


def write_text(path: Path, text: str = "this is not a video\n") -> Path:
    """A text file (with a video name, say)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text * 20)
    return path


def write_truncated(path: Path, frames: int = 8) -> Path:
    """An MP4 cut in half: its index (moov atom, written last) is missing."""
    write_clip(path, frames=frames)
    data = path.read_bytes()
    assert data.rfind(b"moov") > len(data) // 2, "expected the moov atom at the end"
    path.write_bytes(data[: len(data) // 2])
    return path


def frame_count(path: Path) -> int:
    """Decoded video frames in ``path`` (PyAV directly)."""
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def write_audio_only(path: Path, seconds: float = 0.3) -> Path:
    """An AAC-only file (no video stream)."""
    out = av.open(str(path), "w")
    try:
        a, frames = _audio(out, 48000, seconds)
        for f in frames:
            out.mux(a.encode(f))
        out.mux(a.encode(None))
    finally:
        out.close()
    return Path(path)


# --- damaging --------------------------------------------------------------------------------


def truncate_before_moov(src: Path, dst: Path) -> Path:
    """Copy an MP4 whose ``moov`` atom is at the end, cut just before it (as if still being written)."""
    data = Path(src).read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        if kind == b"moov":
            if pos == 0:
                raise ValueError("moov is first")
            Path(dst).write_bytes(data[:pos])
            return Path(dst)
        if size < 8:
            break
        pos += size
    raise ValueError(f"{src}: no top-level moov atom found")


def corrupt_packets(src: Path, dst: Path, first: float = 0.4, count: int = 12, seed: int = 0) -> int:
    """Copy an MPEG-TS file with the payload of ``count`` video TS packets replaced by noise.

    The 4-byte TS headers are kept so the demuxer stays in sync and only the decoder sees
    damage. The packets start at fraction ``first`` of the file. Returns how many were hit.
    """
    data = bytearray(Path(src).read_bytes())
    rng = np.random.default_rng(seed)
    n = len(data) // 188
    pids: dict[int, int] = {}
    for i in range(n):
        pid = ((data[i * 188 + 1] & 0x1F) << 8) | data[i * 188 + 2]
        pids[pid] = pids.get(pid, 0) + 1
    video_pid = max((p for p in pids if p not in (0, 0x1FFF) and p < 0x1000 and p != 0x11), key=pids.get)
    hit = 0
    for i in range(int(n * first), n):
        off = i * 188
        pid = ((data[off + 1] & 0x1F) << 8) | data[off + 2]
        start = data[off + 1] & 0x40  # payload unit start: keep PES headers so timing survives
        if pid != video_pid or start:
            continue
        adaptation = (data[off + 3] >> 4) & 0x3
        body = off + 4 + (1 + data[off + 4] if adaptation == 3 else 0)
        data[body : off + 188] = rng.integers(0, 256, off + 188 - body, dtype=np.uint8).tobytes()
        hit += 1
        if hit == count:
            break
    Path(dst).write_bytes(bytes(data))
    return hit


# --- reading ---------------------------------------------------------------------------------


@dataclass
class VideoInfo:
    """The first video stream of a file, decoded with PyAV.

    Attributes:
        codec: codec name, e.g. ``h264``.
        width, height: coded frame size.
        pix_fmt: decoded frames' pixel format.
        times: each frame's ``pts * time_base`` in seconds (exact fractions).
        planes: each frame's planes (uint8 or uint16 arrays).
        color: ``(range, space, primaries, trc)`` of the first frame.
        rotation: display rotation of the first frame (degrees counter-clockwise).
        interlaced: each frame's ``interlaced_frame`` flag.
        field_order: the stream's codec context field order name.
        first: the first decoded frame (for side data).
    """

    codec: str
    width: int
    height: int
    pix_fmt: str
    times: list[Fraction] = field(default_factory=list)
    planes: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    color: tuple[int, int, int, int] = (0, 0, 0, 0)
    rotation: float = 0
    interlaced: list[bool] = field(default_factory=list)
    field_order: str = ""
    first: av.VideoFrame | None = None


def read_video(path: Path) -> VideoInfo:
    """Decode every frame of the first video stream of ``path``."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        info = VideoInfo(cc.name, cc.width, cc.height, "", field_order=str(getattr(cc, "field_order", "")))
        for f in c.decode(s):
            if info.first is None:
                info.first, info.pix_fmt = f, f.format.name
                info.color = (f.color_range, f.colorspace, f.color_primaries, f.color_trc)
                info.rotation = f.rotation
            depth, _, _, gray = _format_info(f.format.name)
            dtype = np.uint8 if depth == 8 else np.uint16
            info.planes.append(tuple(plane_array(f.planes[i], dtype) for i in range(1 if gray else 3)))
            info.times.append(Fraction(f.pts) * f.time_base)
            info.interlaced.append(bool(f.interlaced_frame))
    return info


def packets(path: Path, kind: str) -> list[tuple[Fraction | None, bytes]]:
    """``(pts in seconds, payload)`` of every non-empty packet of the first stream of type ``kind``."""
    with av.open(str(path)) as c:
        s = next(s for s in c.streams if s.type == kind)
        return [(None if p.pts is None else Fraction(p.pts) * p.time_base, bytes(p))
                for p in c.demux(s) if p.size]


def stream_codecs(path: Path) -> list[tuple[str, str]]:
    """``(type, codec name)`` of every stream, in order."""
    with av.open(str(path)) as c:
        return [(s.type, s.codec_context.name if s.codec_context else "") for s in c.streams]


def chapters(path: Path) -> list[tuple[Fraction, Fraction, str]]:
    """``(start s, end s, title)`` of every chapter."""
    with av.open(str(path)) as c:
        return [(ch["start"] * ch["time_base"], ch["end"] * ch["time_base"], ch["metadata"].get("title", ""))
                for ch in c.chapters()]


def languages(path: Path) -> list[tuple[str, str | None]]:
    """``(type, language tag)`` of every stream, in order."""
    with av.open(str(path)) as c:
        return [(s.type, s.metadata.get("language")) for s in c.streams]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def psnr(a: np.ndarray, b: np.ndarray, peak: float, border: int = 0) -> float:
    """PSNR in dB of two same-size planes, ``border`` pixels shaved on every side."""
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)

