"""Decoded frames made uniform before the pipeline sees them.

Three things a real-world input can do that the pipeline (one planar YUV size per job)
does not: deliver RGB pictures, carry an alpha channel, or change its picture size in the
middle of the stream. The decoder hands every decoded frame through :class:`FrameNormalizer`:

- **RGB sources** (PNG or QuickTime Animation in MOV, Ut Video, GIF, FFV1/RGB ...) are
  converted once, by swscale, to planar YUV 4:4:4 at their own bit depth (no chroma is
  thrown away), limited range, with the matrix :func:`rgb_matrix` states: BT.709 for HD
  (at least 1280 wide or 720 tall), BT.601 (SMPTE 170M) below. The frames are tagged with
  that matrix and range; primaries and transfer are the source's where it states them,
  else BT.709 primaries and the sRGB transfer (the convention for PNG, GIF and screen
  captures: sRGB's primaries are BT.709's).
- **Alpha** is dropped (the output is opaque), with one warning when a frame is not
  fully opaque; a VP9 stream that carries alpha (WebM ``alpha_mode``) gets a warning
  when the decoder opens it (FFmpeg's VP9 decoder does not decode that alpha at all).
- **A size change mid-stream** (an MPEG-TS broadcast that switches 1080i to 576i, a
  camera that changes resolution) is scaled back to the first frame's size with swscale's
  bicubic filter, before deinterlacing and upscaling: the output keeps one size, every
  frame and every timestamp. One warning names the frame where the size changed. A change
  of pixel format (4:2:0 to 4:2:2, 8 to 10 bits) is converted back to the first format the
  same way.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np

from vsr.frames import ColorTags, YuvFrame
from vsr.media.formats import PlanarFormat, planar_format
from vsr.media.hdr import read_hdr10

__all__ = ["FrameNormalizer", "rgb_matrix", "is_rgb_format", "RGB_RANGE", "to_yuv_frame"]

log = logging.getLogger(__name__)

# FFmpeg enum values: AVColorSpace BT709 / SMPTE170M, AVColorRange MPEG (limited),
# AVColorPrimaries BT709, AVColorTransferCharacteristic IEC61966-2-1 (sRGB)
_SPACE_709, _SPACE_601 = 1, 6
RGB_RANGE = 1
_PRIMARIES_709, _TRC_SRGB = 1, 13
_UNSPECIFIED = 2


def is_rgb_format(name: str) -> bool:
    """Whether FFmpeg pixel format ``name`` stores RGB (or palette) samples, not YUV."""
    fmt = av.VideoFormat(name)
    return bool(fmt.is_rgb or fmt.has_palette)


def rgb_matrix(width: int, height: int) -> int:
    """The YUV matrix (``AVColorSpace``) an RGB source of this size is converted with:
    1 (BT.709) for HD, at least 1280 wide or 720 tall; 6 (BT.601 / SMPTE 170M) below."""
    return _SPACE_709 if width >= 1280 or height >= 720 else _SPACE_601


def _has_alpha(name: str) -> bool:
    return any(c.is_alpha for c in av.VideoFormat(name).components)


def _opaque(frame: av.VideoFrame) -> bool:
    """Whether every alpha sample of ``frame`` is at its maximum (fully opaque)."""
    fmt = frame.format
    if fmt.name in ("pal8",):
        return True  # palette alpha: GIF transparency is decoded to bgra by FFmpeg already
    if len(fmt.components) == 4 and fmt.is_planar:  # yuva*, gbrap*: alpha is plane 3
        comp = fmt.components[3]
        depth = comp.bits
        plane = frame.planes[comp.plane]
        dtype = np.uint8 if depth <= 8 else np.uint16
        a = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // np.dtype(dtype).itemsize)
        return bool((a[:, : plane.width] == (1 << depth) - 1).all())
    rgba = frame.to_ndarray(format="rgba")  # packed alpha formats (argb, bgra, rgba ...), 8-bit view
    return bool((rgba[..., 3] == 255).all())


class FrameNormalizer:
    """Per-decoder state: the first frame's size, and which warnings were given.

    Args:
        name: the input's name, for messages.
        stream: the PyAV video stream (its tags tell whether VP9 alpha is present).
    """

    def __init__(self, name: str, stream: av.video.stream.VideoStream) -> None:
        self.name = name
        self.size: tuple[int, int] | None = None
        self.format: str | None = None
        self.index = 0
        self._size_warned = self._format_warned = False
        self._alpha_checked = False
        if stream.codec_context.name in ("vp8", "vp9") and stream.metadata.get("alpha_mode") == "1":
            self._alpha_checked = True
            log.warning("%s: the %s stream carries an alpha channel; vsr upscales the colour and drops the "
                        "alpha (the output is opaque)", name, stream.codec_context.name.upper())

    def conform(self, frame: av.VideoFrame) -> av.VideoFrame:
        """``frame`` at the first frame's size (swscale bicubic when the size changed).

        Also checks the first frame that has an alpha channel, and warns when it is not opaque.
        """
        if not self._alpha_checked and _has_alpha(frame.format.name):
            self._alpha_checked = True
            if not _opaque(frame):
                log.warning("%s: the video has transparent pixels; vsr drops the alpha channel (the output is "
                            "opaque)", self.name)
        size, fmt = (frame.width, frame.height), frame.format.name
        index, self.index = self.index, self.index + 1
        if self.size is None:
            self.size, self.format = size, fmt
            return frame
        if size == self.size and fmt == self.format:
            return frame
        if size != self.size and not self._size_warned:
            self._size_warned = True
            log.warning("%s: the picture size changes from %dx%d to %dx%d at frame %d; such frames are scaled "
                        "to %dx%d (the first size)", self.name, *self.size, *size, index, *self.size)
        if fmt != self.format and not self._format_warned:
            self._format_warned = True
            log.warning("%s: the pixel format changes from %s to %s at frame %d; such frames are converted to %s",
                        self.name, self.format, fmt, index, self.format)
        out = frame.reformat(width=self.size[0], height=self.size[1], format=self.format, interpolation="BICUBIC")
        out.pts, out.time_base = frame.pts, frame.time_base
        for attr in ("color_range", "colorspace", "color_primaries", "color_trc"):
            setattr(out, attr, getattr(frame, attr))
        return out


def rgb_to_yuv(frame: av.VideoFrame, fmt: PlanarFormat) -> tuple[av.VideoFrame, tuple[int, int, int, int]]:
    """Convert an RGB (or palette) frame to the planar YUV 4:4:4 format ``fmt``.

    Returns:
        The converted frame and its colour tags ``(range, space, primaries, trc)``:
        limited range, the matrix of :func:`rgb_matrix`, the source's primaries and
        transfer where it states them, else BT.709 primaries and the sRGB transfer.
    """
    space = rgb_matrix(frame.width, frame.height)
    primaries = frame.color_primaries if frame.color_primaries not in (0, _UNSPECIFIED) else _PRIMARIES_709
    trc = frame.color_trc if frame.color_trc not in (0, _UNSPECIFIED) else _TRC_SRGB
    out = frame.reformat(format=fmt.name, dst_colorspace="ITU709" if space == _SPACE_709 else "ITU601",
                         dst_color_range="MPEG", interpolation="BICUBIC")
    return out, (RGB_RANGE, space, primaries, trc)


def _plane_array(plane, dtype: np.dtype) -> np.ndarray:
    """Copy one plane out of an AVFrame, without line padding: ``(h, w)``."""
    itemsize = np.dtype(dtype).itemsize
    a = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // itemsize)
    return a[:, : plane.width].copy()


def to_yuv_frame(frame: av.VideoFrame, index: int, pts: int | None, time_base: Fraction) -> YuvFrame:
    """Turn a decoded ``av.VideoFrame`` into a :class:`YuvFrame` (host copies of the planes).

    Planar YUV and gray frames are copied as they are; other layouts are first
    converted with swscale to the planar format of the same subsampling and depth.
    """
    fmt: PlanarFormat = planar_format(frame.format.name)
    if is_rgb_format(frame.format.name):  # once to YUV 4:4:4 with a stated matrix (vsr.media.normalize)
        frame, tags = rgb_to_yuv(frame, fmt)
        color = ColorTags(*tags)
    else:
        if frame.format.name != fmt.name and not (fmt.full_range and frame.format.name == "yuvj" + fmt.name[3:]):
            frame = frame.reformat(format=fmt.name)
        rng = frame.color_range or (2 if fmt.full_range else 0)
        color = ColorTags(rng, frame.colorspace, frame.color_primaries, frame.color_trc, read_hdr10(frame))
    n = 1 if fmt.gray else 3
    planes = tuple(_plane_array(frame.planes[i], np.dtype(fmt.dtype)) for i in range(n))
    return YuvFrame(planes, fmt.bit_depth, fmt.log2_chroma, pts, time_base, color, index)
