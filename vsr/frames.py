"""YuvFrame: the one frame type that crosses every pipeline stage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

__all__ = ["ColorTags", "Hdr10", "YuvFrame"]


@dataclass(frozen=True)
class Hdr10:
    """Mastering display colour volume (SMPTE ST 2086) and content light level.

    Attributes:
        primaries: ``((rx, ry), (gx, gy), (bx, by))`` CIE 1931 chromaticities, or None.
        white: ``(x, y)`` white point, or None.
        luminance: ``(max, min)`` in cd/m^2, or None.
        max_cll: maximum content light level in cd/m^2 (0 when absent).
        max_fall: maximum frame-average light level in cd/m^2 (0 when absent).
    """

    primaries: tuple[tuple[float, float], ...] | None = None
    white: tuple[float, float] | None = None
    luminance: tuple[float, float] | None = None
    max_cll: int = 0
    max_fall: int = 0


@dataclass(frozen=True)
class ColorTags:
    """Colour description of a frame, as FFmpeg's enum values (``AVColorRange`` etc.).

    Attributes:
        range: 1 limited (tv), 2 full (pc), 0 unspecified.
        space: matrix coefficients (``AVColorSpace``), e.g. 1 BT.709, 9 BT.2020 NCL.
        primaries: ``AVColorPrimaries``, e.g. 1 BT.709, 9 BT.2020.
        trc: transfer characteristic, e.g. 1 BT.709, 16 PQ (SMPTE 2084), 18 HLG.
        hdr10: static HDR metadata, when the source carries it.
    """

    range: int = 0
    space: int = 2
    primaries: int = 2
    trc: int = 2
    hdr10: Hdr10 | None = None

    @property
    def full_range(self) -> bool:
        return self.range == 2


@dataclass(frozen=True)
class YuvFrame:
    """One decoded or upscaled picture in planar YUV (never RGB).

    Attributes:
        planes: ``(Y, U, V)`` or ``(Y,)`` for gray. Y is ``(H, W)``; U and V are
            ``(ceil(H / 2**log2_h), ceil(W / 2**log2_w))``. dtype uint8 for 8-bit,
            uint16 (values below ``2**bit_depth``) for deeper formats. Host memory.
        bit_depth: bits per sample (8, 10, 12).
        log2_chroma: ``(log2_w, log2_h)`` chroma subsampling, e.g. (1, 1) for 4:2:0.
        pts: presentation timestamp in ``time_base`` units, or None.
        time_base: the unit of ``pts``.
        color: colour tags copied from the source frame.
        index: decode order number, from 0.
    """

    planes: tuple[np.ndarray, ...]
    bit_depth: int
    log2_chroma: tuple[int, int]
    pts: int | None
    time_base: Fraction
    color: ColorTags
    index: int = 0

    @property
    def width(self) -> int:
        return self.planes[0].shape[1]

    @property
    def height(self) -> int:
        return self.planes[0].shape[0]

    @property
    def gray(self) -> bool:
        return len(self.planes) == 1

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1

    def chroma_size(self, width: int, height: int) -> tuple[int, int]:
        """``(h, w)`` of a chroma plane for a luma of ``width`` x ``height``."""
        lw, lh = self.log2_chroma
        return -(-height >> lh), -(-width >> lw)

    def with_planes(self, planes: tuple[np.ndarray, ...]) -> "YuvFrame":
        """Same timing and tags, new planes (e.g. the upscaled ones)."""
        return replace(self, planes=planes)
