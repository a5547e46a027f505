"""Test media whose timestamps are hard, made with PyAV: a DivX/Xvid-style AVI with packed
B-frames, two MPEG-TS recordings joined byte-wise, an MP4 whose edit list starts mid-GOP.

**Packed B-frames.** FFmpeg's ``mpeg4`` encoder writes B-frames the standard way (one VOP per
packet, in decode order); "packed bitstream" is what DivX 5 and Xvid wrote into AVI, which
stores one chunk per frame time and no presentation times. :func:`write_packed_avi` packs
the encoder's packets as those encoders did: each P-VOP shares its chunk with the first
B-VOP after it, the other B-VOPs follow one per chunk, and a 7-byte "not coded" VOP (N-VOP)
fills the chunk where the P-frame is shown; the ``DivX503b1393p`` user data (the ``p``:
packed) before the first VOP tells decoders so. FFmpeg's ``mpeg4_unpack_bframes`` is the
exact inverse. The bitstream is FFmpeg's own, so the pictures decode bit-exactly either way.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from media import video_frame, write_video

__all__ = ["write_packed_avi", "write_joined_ts", "write_edit_list_mp4", "VOP"]

VOP = b"\x00\x00\x01\xb6"  # MPEG-4 Part 2 video object plane start code
_DIVX_PACKED = b"\x00\x00\x01\xb2DivX503b1393p"  # user data: DivX 5.0.3 build 1393, packed bitstream


def _n_vop(time_bits: int) -> bytes:
    """A P-VOP with ``vop_coded`` 0: coding type 01, modulo time base 0, marker, time
    increment (``time_bits`` bits, 0), marker, vop_coded 0, then stuffing to a byte."""
    bits = "01" + "0" + "1" + "0" * time_bits + "1" + "0"
    bits += "0" + "1" * ((-len(bits) - 1) % 8)
    return VOP + int(bits, 2).to_bytes(len(bits) // 8, "big")


def _vop_type(packet: bytes) -> str:
    return "IPBS"[packet[packet.index(VOP) + 4] >> 6]


def write_packed_avi(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48), audio: str | None = "ac3",
                     b_frames: int = 2) -> list[bytes]:
    """An MPEG-4 ASP AVI with packed B-frames (and AC-3 or MP3 audio), as DivX/Xvid wrote them.

    Returns:
        The encoder's own packets in decode order (before packing), for comparisons.
    """
    width, height = size
    rate = Fraction(25)
    enc = av.CodecContext.create("mpeg4", "w")
    enc.width, enc.height, enc.pix_fmt, enc.time_base, enc.framerate = width, height, "yuv420p", 1 / rate, rate
    enc.options = {"bf": str(b_frames), "g": str(frames)}
    coded: list[bytes] = []
    for i in range(frames):
        f = video_frame(width, height, i, "yuv420p")
        f.pts, f.time_base = i, 1 / rate
        coded += [bytes(p) for p in enc.encode(f)]
    coded += [bytes(p) for p in enc.encode(None)]
    first = coded[0].index(VOP)
    packets = [coded[0][:first] + _DIVX_PACKED + coded[0][first:], *coded[1:]]
    time_bits = max(1, (int(rate) - 1).bit_length())  # vop_time_increment_resolution 25: 5 bits
    chunks, j = [], 0
    while j < len(packets):
        if _vop_type(packets[j]) == "P" and j + 1 < len(packets) and _vop_type(packets[j + 1]) == "B":
            chunks.append(packets[j] + packets[j + 1])
            j += 2
            while j < len(packets) and _vop_type(packets[j]) == "B":
                chunks.append(packets[j])
                j += 1
            chunks.append(_n_vop(time_bits))
        else:
            chunks.append(packets[j])
            j += 1
    assert len(chunks) == frames, (len(chunks), frames)
    out = av.open(str(path), "w", format="avi")
    try:
        v = out.add_stream("mpeg4", rate=rate)
        v.width, v.height, v.pix_fmt, v.time_base = width, height, "yuv420p", 1 / rate
        a = None
        if audio:
            a = out.add_stream(audio if audio != "mp3" else "libmp3lame", rate=48000)
            a.layout = "stereo"
        for k, chunk in enumerate(chunks):
            p = av.Packet(chunk)
            p.pts = p.dts = k
            p.time_base, p.stream, p.is_keyframe = 1 / rate, v, k == 0
            out.mux(p)
        if a is not None:
            n = int(48000 * frames / rate)
            t = np.arange(n) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            step = a.codec_context.frame_size or 1152
            for start in range(0, n, step):
                f = av.AudioFrame.from_ndarray(np.stack([tone[start:start + step]] * 2), format="fltp",
                                               layout="stereo")
                f.sample_rate, f.pts, f.time_base = 48000, start, Fraction(1, 48000)
                out.mux(a.encode(f))
            out.mux(a.encode(None))
    finally:
        out.close()
    return coded


def write_joined_ts(path: Path, frames: tuple[int, int] = (10, 8), second_at: Fraction | None = None) -> None:
    """Two MPEG-TS recordings with video and AAC audio, joined byte-wise (as ``cat`` or a
    recorder that restarts makes them). The second shows pictures ``frames[0]`` on, so the
    order of the pictures tells the two apart.

    Args:
        second_at: None: both start at the same time, so the second's timestamps go back to
            the start (a reset). Else the second starts this many seconds after the first (a
            little before the first's sound ends: timestamps that step back a little).
    """
    parts = []
    for k, n in enumerate(frames):
        part = path.with_name(f"{path.stem}.part{k}.ts")
        offset = sum(frames[:k])
        write_video(part, frames=n, audio=True, container_format="mpegts", options={"preset": "ultrafast"},
                    picture_index=lambda i, offset=offset: i + offset)
        if k and second_at is not None:
            _remux(part, part, second_at)
        parts.append(part.read_bytes())
        part.unlink()
    path.write_bytes(b"".join(parts))


def _remux(src: Path, dst: Path, shift: Fraction) -> None:
    """``src``'s packets into ``dst`` (same container), every timestamp ``shift`` seconds later."""
    data = src.read_bytes()
    tmp = dst.with_name(dst.name + ".in")
    tmp.write_bytes(data)
    with av.open(str(tmp)) as i, av.open(str(dst), "w", format=i.format.name.split(",")[0]) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is None:
                continue
            delta = round(shift / p.time_base)
            p.pts, p.dts = p.pts + delta, p.dts + delta
            p.stream = streams[p.stream.index]
            o.mux(p)
    tmp.unlink()


def write_edit_list_mp4(path: Path, frames: int = 25, hidden: Fraction = Fraction(52, 100)) -> None:
    """An MP4 with H.264 (one GOP) and AAC whose edit list starts ``hidden`` seconds into the
    GOP, as ``ffmpeg -ss`` with stream copy writes: the first frames decode (the others need
    them) but are not shown, and the sound under them is not played."""
    src = path.with_name(path.stem + ".src.mkv")
    write_video(src, frames=frames, audio=True, options={"g": str(frames), "preset": "ultrafast"})
    with av.open(str(src)) as i, av.open(str(path), "w") as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is None:
                continue
            shift = round(hidden / p.time_base)
            p.pts, p.dts = p.pts - shift, p.dts - shift
            p.stream = streams[p.stream.index]
            o.mux(p)
    src.unlink()
