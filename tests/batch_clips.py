"""Tiny clips and broken files for the batch tests, made with PyAV (never with vsr)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["write_clip", "write_text", "write_truncated", "frame_count"]


def _picture(width: int, height: int, i: int) -> np.ndarray:
    """An RGB frame with structure: a gradient and a square that moves with ``i``."""
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)),
                    np.full_like(xx, (40 * i) % 256)], -1).astype(np.uint8)
    s = max(2, min(width, height) // 4)
    x0 = (3 * i) % max(1, width - s)
    rgb[height // 3: height // 3 + s, x0: x0 + s] = 255
    return rgb


def write_clip(path: Path, width: int = 64, height: int = 48, frames: int = 4, *, codec: str = "libx264",
               pix_fmt: str = "yuv420p", rate: int = 25, rotation: int = 0,
               sar: Fraction | None = None) -> Path:
    """Write a clip; libx264 runs ultrafast. Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            s.codec_context.options = {"preset": "ultrafast"}
        if sar is not None:
            s.codec_context.sample_aspect_ratio = sar
        if rotation:
            s.set_display_rotation(rotation)
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(_picture(width, height, i), format="rgb24").reformat(format=pix_fmt)
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def write_text(path: Path, text: str = "this is not a video\n") -> Path:
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
