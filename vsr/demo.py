"""``vsr demo``: upscale the shipped sample clip (or any video), write a bicubic | vsr picture
with a zoomed crop, and measure the gain over bicubic.

How the gain is measured (the Set5 protocol of ``tools/evaluate.py``, on video frames):
``frames`` frames spread over the clip are decoded to RGB (FFmpeg, the stream's matrix); each,
cropped to a multiple of the scale, is the reference; it is downscaled by the scale (Pillow's
antialiased bicubic) and upscaled back by bicubic (Pillow) and by the network; luma PSNR
(BT.601, ``scale`` pixels shaved per border) against the reference, averaged over the frames.
The reference is the clip as decoded, compression and all, and the LR is not re-encoded, so
this is the gain on a clean downscale of real footage (docs/models.md has the figures on
re-encoded LR).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vsr.errors import OutputExistsError
from vsr.models import DEFAULT_MODEL

__all__ = ["DemoResult", "run_demo", "measure_gain", "compare_picture", "busiest_window"]

ZOOM = 3  # the crop is shown this many times larger (nearest neighbour: pixels stay pixels)


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` wrote and measured.

    Attributes:
        source: the clip upscaled.
        video: the upscaled video.
        picture: the comparison PNG.
        stats: the upscale's :class:`vsr.pipeline.VideoStats`.
        gains: weight set -> ``(vsr PSNR, bicubic PSNR)`` in dB, see the module docstring.
        frames: frames the gain was measured on.
        crop: ``(x, y, w, h)`` of the zoomed region in the upscaled frame.
    """

    source: Path
    video: Path
    picture: Path
    stats: object
    gains: dict[str, tuple[float, float]]
    frames: int
    crop: tuple[int, int, int, int]


def run_demo(outdir: Path, source: Path | None = None, model: str = DEFAULT_MODEL, scale: int = 2,
             overwrite: bool = False, frames: int = 8, progress: Callable | None = None) -> DemoResult:
    """Upscale ``source`` (default: the shipped sample) into ``outdir`` with the defaults
    (``--backend auto --weights auto``), then write the comparison picture and measure the gain.

    Raises:
        OutputExistsError: an output exists and ``overwrite`` is false (checked before any work).
        VsrError: as :func:`vsr.pipeline.upscale_video`.
    """
    from vsr.config import ModelConfig, UpscaleConfig
    from vsr.image import upscale_images, write_image
    from vsr.media.stills import rgb_frames
    from vsr.pipeline import upscale_video
    from vsr.samples import sample_path

    source = Path(source) if source is not None else sample_path()
    outdir = Path(outdir)
    video = outdir / f"{source.stem}_x{scale}.mp4"
    picture = outdir / f"{source.stem}_x{scale}_compare.png"
    for path in (video, picture):
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path}: already exists (use --overwrite to replace it)")
    stats = upscale_video(source, video, UpscaleConfig(model=ModelConfig(model, scale, "auto"), overwrite=overwrite),
                          progress=progress)
    rgbs = rgb_frames(source, frames)
    gains = {w: measure_gain(rgbs, model, scale, w) for w in _shipped_sets(model, scale)}
    middle = rgbs[len(rgbs) // 2]
    sr = upscale_images([middle], model, scale, weights=stats.weights)[0]
    pic, crop = compare_picture(middle, sr, scale, f"vsr {model} x{scale}, {stats.weights} weights")
    write_image(picture, pic, overwrite=overwrite)
    return DemoResult(source, video, picture, stats, gains, len(rgbs), crop)


def _shipped_sets(model: str, scale: int) -> list[str]:
    from vsr.models.weights import list_models

    return [s.weights for s in list_models() if s.name == model and s.scale == scale]


def measure_gain(rgbs: list[np.ndarray], model: str, scale: int, weights: str) -> tuple[float, float]:
    """``(vsr PSNR, bicubic PSNR)``, mean luma dB over ``rgbs`` (see the module docstring).

    Args:
        rgbs: reference frames, ``(H, W, 3)`` uint8 RGB.
    """
    from vsr.image import upscale_images
    from vsr.quality import downscale, modcrop, psnr, rgb_to_y, upscale_rgb

    refs = [modcrop(f, scale) for f in rgbs]
    lrs = [downscale(f, scale) for f in refs]
    srs = upscale_images(lrs, model, scale, weights=weights, luma=True)
    sr = [psnr(y, rgb_to_y(ref), scale) for y, ref in zip(srs, refs)]
    bic = [psnr(rgb_to_y(upscale_rgb(lr, scale)), rgb_to_y(ref), scale) for lr, ref in zip(lrs, refs)]
    return float(np.mean(sr)), float(np.mean(bic))


def compare_picture(rgb: np.ndarray, sr: np.ndarray, scale: int, label: str
                    ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Bicubic | vsr, full frame above and a ``ZOOM``x crop below, labelled.

    Args:
        rgb: the source frame, ``(H, W, 3)`` uint8.
        sr: the network's upscale of it, ``(scale*H, scale*W, 3)`` uint8.
        label: the caption of the vsr column.

    Returns:
        ``(picture, (x, y, w, h))``: uint8 RGB, and the crop in upscaled pixels: the region of a
        ``ZOOM``-th of the frame's width and height where bicubic and vsr differ most.
    """
    from vsr.quality import rgb_to_y, upscale_rgb

    bic = upscale_rgb(rgb, scale)
    h, w = sr.shape[:2]
    cw, ch = max(8, w // ZOOM), max(8, h // ZOOM)
    x, y = busiest_window(np.abs(rgb_to_y(sr) - rgb_to_y(bic)), cw, ch)
    columns = []
    for img, text in ((bic, "bicubic"), (sr, label)):
        full = _frame_box(img.copy(), x, y, cw, ch)
        zoom = img[y:y + ch, x:x + cw].repeat(ZOOM, axis=0).repeat(ZOOM, axis=1)[:h, :w]
        zoom = np.pad(zoom, ((0, h - zoom.shape[0]), (0, w - zoom.shape[1]), (0, 0)))
        columns.append(np.concatenate([_caption(text, w), full, _caption(f"{ZOOM}x zoom of the box", w), zoom]))
    gap = np.full((columns[0].shape[0], 8, 3), 255, np.uint8)
    return np.concatenate([columns[0], gap, columns[1]], axis=1), (x, y, cw, ch)


def busiest_window(values: np.ndarray, cw: int, ch: int) -> tuple[int, int]:
    """Top-left ``(x, y)`` of the ``cw`` x ``ch`` window of ``values`` (an ``(H, W)`` float array)
    with the largest sum, searched on a grid of an eighth of the window's shorter side."""
    h, w = values.shape
    integral = np.pad(values, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    step = max(4, min(cw, ch) // 8)
    best, at = -1.0, (0, 0)
    for y in range(0, h - ch + 1, step):
        for x in range(0, w - cw + 1, step):
            s = integral[y + ch, x + cw] - integral[y, x + cw] - integral[y + ch, x] + integral[y, x]
            if s > best:
                best, at = s, (x, y)
    return at


def _frame_box(img: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    """``img`` with a 2-pixel yellow rectangle around the crop."""
    colour = np.array([255, 220, 0], np.uint8)
    img[y:y + 2, x:x + w] = colour
    img[y + h - 2:y + h, x:x + w] = colour
    img[y:y + h, x:x + 2] = colour
    img[y:y + h, x + w - 2:x + w] = colour
    return img


def _caption(text: str, width: int, height: int = 28) -> np.ndarray:
    """A white strip with ``text`` in black, ``(height, width, 3)`` uint8."""
    from PIL import Image, ImageDraw, ImageFont

    strip = Image.new("RGB", (width, height), "white")
    try:
        font = ImageFont.load_default(size=18)
    except TypeError:  # Pillow without FreeType sizes
        font = ImageFont.load_default()
    ImageDraw.Draw(strip).text((6, 4), text, fill="black", font=font)
    return np.asarray(strip)
