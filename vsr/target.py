"""Target resolutions: which model scale and which exact output size reach ``--target``.

Pure arithmetic on frame sizes (no I/O), in exact fractions.

Semantics:

* The *display size* of a video is its stored (coded) frame size with the sample
  aspect ratio applied to the width, then turned by the display rotation: a 1920x1080
  frame with rotation 90 displays as 1080x1920; a 720x576 frame with SAR 16:15
  displays as 768x576.
* ``"Np"`` (``1080p``, ``1440p``, ``2160p``, ...; also ``4k`` = ``2160p``, ``8k`` =
  ``4320p``) names a 16:9 *frame*: 1920x1080, 2560x1440, 3840x2160 (the width is N * 16/9
  rounded to even: 480p is 854x480), turned to the picture's orientation as displayed:
  a portrait clip at ``1080p`` fits 1080x1920. The picture fits inside that frame keeping
  its display aspect: 16:9 fills it, 4:3 at ``1080p`` is 1440x1080, a 2.4:1 film at
  ``4k`` is 3840x1600 (not 5184x2160, wider than the standard). A square picture counts
  as landscape.
* ``"WxH"``: the largest size that fits inside a W by H box *as displayed* (rotation
  applied), keeping the display aspect ratio; the box is not turned. A portrait clip in
  a ``3840x2160`` box is 2160 high; use ``Np`` for "this resolution whatever the
  orientation".
* The output has square pixels (SAR 1:1) and keeps the rotation tag: its stored size
  is the unrotated display size times the enlargement factor, each side rounded to
  the nearest multiple of the chroma subsampling (2 for 4:2:0 on both sides, 2 for
  4:2:2 on the width only, 1 for 4:4:4 and gray), never beyond the frame or box.
* The model scale is the smallest available one whose output covers that size on
  both sides, so the bicubic resize after the network only shrinks; if none does, the
  largest is used and the resize enlarges the rest (``reached`` is False).
* A source whose display already fills the frame or box on one side (enlargement factor
  <= 1) is ``at_target``: the caller skips it or copies it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable

__all__ = ["Target", "TargetPlan", "parse_target", "display_size", "plan_target"]

_ALIASES = {"4k": 2160, "uhd": 2160, "8k": 4320}


@dataclass(frozen=True)
class Target:
    """A target resolution: exactly one of ``short_side`` ("Np": the 16:9 frame N high, turned to
    the picture's orientation, see :meth:`frame`) or ``box`` ("WxH")."""

    short_side: int | None = None
    box: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if (self.short_side is None) == (self.box is None):
            raise ValueError("a Target has exactly one of short_side or box")

    def frame(self, portrait: bool = False) -> tuple[int, int]:
        """The ``(width, height)`` box the picture fits in: ``box``, or for ``Np`` the 16:9
        frame (``1080p`` -> 1920x1080), turned to 1080x1920 for a ``portrait`` picture."""
        if self.box is not None:
            return self.box
        n = self.short_side
        wide = _round_to(Fraction(16 * n, 9), 2)
        return (n, wide) if portrait else (wide, n)

    def __str__(self) -> str:
        return f"{self.short_side}p" if self.short_side is not None else f"{self.box[0]}x{self.box[1]}"


@dataclass(frozen=True)
class TargetPlan:
    """How one source reaches a target.

    Attributes:
        size: output stored frame ``(width, height)`` (before display rotation), square pixels.
        display: output display ``(width, height)`` (rotation applied).
        scale: model scale to run before the exact resize to ``size``.
        factor: display enlargement factor (target / source); <= 1 means at or above target.
        reached: the model's output (``scale`` x source) covers ``size`` on both sides.
    """

    size: tuple[int, int]
    display: tuple[int, int]
    scale: int
    factor: Fraction
    reached: bool

    @property
    def at_target(self) -> bool:
        """The source already is at or above the target resolution."""
        return self.factor <= 1


def parse_target(text: str) -> Target:
    """``"2160p"``, ``"1080P"``, ``"4k"`` or ``"1920x1080"`` -> :class:`Target`.

    Raises:
        ValueError: anything else (the message says what is accepted).
    """
    t = text.strip().lower()
    if t in _ALIASES:
        return Target(short_side=_ALIASES[t])
    m = re.fullmatch(r"(\d+)p", t)
    if m and int(m.group(1)) > 0:
        return Target(short_side=int(m.group(1)))
    m = re.fullmatch(r"(\d+)x(\d+)", t)
    if m and int(m.group(1)) > 0 and int(m.group(2)) > 0:
        return Target(box=(int(m.group(1)), int(m.group(2))))
    raise ValueError(f"expected a target such as 2160p, 1440p, 1080p, 4k or WIDTHxHEIGHT, got {text!r}")


def display_size(width: int, height: int, sar: Fraction | int = 1, rotation: int = 0) -> tuple[Fraction, Fraction]:
    """Display ``(width, height)`` of a stored frame: SAR on the width, then rotation (degrees)."""
    w, h = Fraction(width) * Fraction(sar or 1), Fraction(height)
    return (h, w) if _quarter_turn(rotation) else (w, h)


def _quarter_turn(rotation: int | float) -> bool:
    return round(rotation) % 180 == 90


def _round_to(x: Fraction, m: int) -> int:
    """Nearest multiple of ``m`` (halves round up), at least ``m``."""
    return max(m, int(x / m + Fraction(1, 2)) * m)


def plan_target(
    width: int,
    height: int,
    target: Target,
    scales: Iterable[int],
    *,
    sar: Fraction | int = 1,
    rotation: int = 0,
    log2_chroma: tuple[int, int] = (1, 1),
) -> TargetPlan:
    """The output size and model scale that bring a ``width`` x ``height`` stored frame to ``target``.

    Args:
        width, height: stored frame size of the source.
        target: see :func:`parse_target` and the module docstring.
        scales: model scales available (e.g. ``(2, 3, 4)``); at least one.
        sar: source sample (pixel) aspect ratio; 0 or None mean 1.
        rotation: source display rotation in degrees (multiples of 90).
        log2_chroma: ``(log2_w, log2_h)`` chroma subsampling of the output, e.g. ``(1, 1)`` for 4:2:0.
    """
    available = sorted(set(scales))
    if not available:
        raise ValueError("no model scale available")
    if width <= 0 or height <= 0:
        raise ValueError(f"bad source size {width}x{height}")
    dw, dh = display_size(width, height, sar, 0)  # unrotated display
    turned = _quarter_turn(rotation)
    rw, rh = (dh, dw) if turned else (dw, dh)  # as displayed
    bw, bh = target.frame(portrait=rh > rw)
    factor = min(Fraction(bw) / rw, Fraction(bh) / rh)
    limit = (bh, bw) if turned else (bw, bh)  # the frame in unrotated terms
    mw, mh = 1 << log2_chroma[0], 1 << log2_chroma[1]
    ow, oh = _round_to(dw * factor, mw), _round_to(dh * factor, mh)
    ow = min(ow, max(mw, limit[0] // mw * mw))
    oh = min(oh, max(mh, limit[1] // mh * mh))
    fits = [s for s in available if s * width >= ow and s * height >= oh]
    scale = fits[0] if fits else available[-1]
    return TargetPlan((ow, oh), (oh, ow) if turned else (ow, oh), scale, factor, bool(fits))
