"""Pixel formats: which planar YUV layout a decoded frame maps to, and back."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import av

__all__ = ["PlanarFormat", "planar_format", "with_depth"]


@dataclass(frozen=True)
class PlanarFormat:
    """A planar YUV (or gray) FFmpeg pixel format vsr works in.

    Attributes:
        name: e.g. ``yuv420p10le``.
        bit_depth: 8, 10, 12 or 16.
        log2_chroma: ``(log2_w, log2_h)`` subsampling; ``(0, 0)`` for 4:4:4 and gray.
        gray: single plane.
        full_range: the source format was a JPEG ``yuvj*`` one (implies full range).
    """

    name: str
    bit_depth: int
    log2_chroma: tuple[int, int]
    gray: bool
    full_range: bool = False

    @property
    def dtype(self) -> str:
        return "uint8" if self.bit_depth == 8 else "uint16"


_CHROMA = {"420": (1, 1), "422": (1, 0), "444": (0, 0), "440": (0, 1), "411": (2, 0), "410": (2, 2)}


def _planar_name(kind: str, depth: int) -> str:
    if kind == "gray":
        return "gray" if depth == 8 else f"gray{depth}le"
    return f"yuv{kind}p" if depth == 8 else f"yuv{kind}p{depth}le"


@lru_cache(maxsize=None)
def planar_format(name: str) -> PlanarFormat:
    """The planar YUV format a decoded frame of pixel format ``name`` is read as.

    Planar YUV and gray formats map to themselves (``yuvj*`` to ``yuv*`` with
    ``full_range``). Semi-planar (``nv12``, ``p010le``), packed and alpha formats map to
    the planar YUV format with the same subsampling and depth. RGB formats map to
    4:4:4 at their depth (the only case where a colour conversion happens).
    """
    fmt = av.VideoFormat(name)
    depth = max(c.bits for c in fmt.components)
    depth = 8 if depth <= 8 else 10 if depth <= 10 else 12 if depth <= 12 else 16
    full = name.startswith("yuvj")
    if fmt.is_rgb or fmt.has_palette:
        return PlanarFormat(_planar_name("444", depth), depth, (0, 0), False)
    lumas = [c for c in fmt.components if c.is_luma]
    if len(fmt.components) - (1 if any(c.is_alpha for c in fmt.components) else 0) == 1 and lumas:
        return PlanarFormat(_planar_name("gray", depth), depth, (0, 0), True, full)
    log2 = ((16 // fmt.chroma_width(16)).bit_length() - 1, (16 // fmt.chroma_height(16)).bit_length() - 1)
    kind = next((k for k, v in _CHROMA.items() if v == log2), "444")
    return PlanarFormat(_planar_name(kind, depth), depth, _CHROMA[kind], False, full)


def with_depth(fmt: PlanarFormat, depth: int) -> str:
    """The planar format name with the same layout as ``fmt`` at another bit depth."""
    kind = "gray" if fmt.gray else next(k for k, v in _CHROMA.items() if v == fmt.log2_chroma)
    return _planar_name(kind, depth)
