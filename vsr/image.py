"""Still images: upscale one (the network on luma, bicubic on chroma), read and write files.

RGB is converted to limited-range BT.601 YCbCr (MATLAB ``rgb2ycbcr``, the space the
networks were trained and evaluated in), luma goes through a backend, Cb and Cr are
resized bicubically, and the result is converted back to RGB. Files are PNG or JPEG,
decoded and encoded with Pillow, written atomically.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vsr.backends import create_backend
from vsr.config import BackendConfig
from vsr.errors import MediaError, OutputExistsError, UsageError, cause
from vsr.models import DEFAULT_MODEL
from vsr.models.registry import model_card
from vsr.models.weights import get_spec
from vsr.output import atomic_output
from vsr.quality import rgb_to_ycbcr, ycbcr_to_rgb
from vsr.upscale.plan import choose_tile, run_tiled
from vsr.upscale.resample import resize

__all__ = ["upscale_image", "upscale_images", "read_image", "write_image", "image_format", "IMAGE_FORMATS"]

log = logging.getLogger(__name__)

# file suffix -> Pillow format name, for the files vsr writes
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_READ_FORMATS = ("PNG", "JPEG", "MPO")  # MPO: the JPEG of many cameras (a JPEG with extra frames)


def _check_image(rgb: object) -> np.ndarray:
    """The input as an ``(H, W, 3)`` uint8 array (gray repeated into three channels)."""
    if not isinstance(rgb, np.ndarray):
        raise MediaError(f"image must be a numpy array, not {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise MediaError(f"image must be uint8 (values 0-255), not {rgb.dtype}")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    elif rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MediaError(f"image must be (H, W, 3) RGB or (H, W) gray, not shape {tuple(rgb.shape)}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise MediaError(f"image is empty (shape {tuple(rgb.shape)})")
    return rgb


def upscale_image(
    rgb: np.ndarray, model: str = DEFAULT_MODEL, scale: int = 2, backend: str = "auto", device: str = "auto",
    weights: str = "clean",
) -> np.ndarray:
    """Super-resolve one image.

    Args:
        rgb: ``(H, W, 3)`` uint8 RGB, or ``(H, W)`` uint8 gray (treated as R = G = B).
        model: a shipped architecture, e.g. ``"espcn"`` or ``"fsrcnn"``.
        scale: upscaling factor with shipped weights (2, 3 or 4).
        backend: ``"auto"`` or a registered backend name (``"onnxruntime"``, ``"torch"``, ...).
        device: ``"auto"`` (a CUDA GPU if PyTorch sees one), ``"cpu"`` or ``"cuda[:N]"``.
        weights: weight set, ``"clean"`` (default) or ``"compressed"`` (see ``vsr models``).

    Returns:
        ``(scale*H, scale*W, 3)`` uint8 RGB on the host.

    Raises:
        MediaError: not a uint8 array of shape ``(H, W, 3)`` or ``(H, W)``.
        ModelError: unknown model, no shipped weights for ``scale``, or a bad weights file.
        BackendError: the backend cannot run on ``device``.
    """
    return upscale_images([rgb], model, scale, backend, device, weights)[0]


def upscale_images(
    images: list[np.ndarray], model: str = DEFAULT_MODEL, scale: int = 2, backend: str = "auto", device: str = "auto",
    weights: str = "clean", luma: bool = False,
) -> list[np.ndarray]:
    """:func:`upscale_image` on several images with one backend built once.

    Args:
        images: each ``(H, W, 3)`` or ``(H, W)`` uint8, sizes may differ.
        luma: return the network's luma only: ``(scale*H, scale*W)`` float64 in [16, 235], rounded
            to integers (the SR papers' evaluation protocol, as ``vsr.quality.rgb_to_y`` gives it).

    Returns:
        One upscaled image per input: uint8 RGB, or float64 luma with ``luma``.
    """
    rgbs = [_check_image(rgb) for rgb in images]
    spec = get_spec(model, scale, weights)
    runner = create_backend(None, spec, BackendConfig(name=backend, device=device))
    widest = model_card(model).widest
    out = []
    try:
        for rgb in rgbs:
            h, w = rgb.shape[:2]
            log.info("upscaling %dx%d image with %s x%d on %s (%s)", w, h, model, scale, device, runner.name)
            ycc = rgb_to_ycbcr(rgb).transpose(2, 0, 1)[None]  # (1, 3, H, W) float64, Y in [16, 235]
            y_sr = np.clip(_sr_luma(runner, spec.radius, (ycc[:, :1] / 255.0).astype(np.float32), widest), 0.0, 1.0)
            y_sr = y_sr.astype(np.float64) * 255.0  # (1, 1, sH, sW)
            if luma:
                out.append(np.rint(y_sr[0, 0]))
                continue
            c_sr = resize(ycc[:, 1:].astype(np.float32), scale * h, scale * w)  # (1, 2, sH, sW) bicubic
            out.append(ycbcr_to_rgb(np.concatenate([y_sr, c_sr.astype(np.float64)], axis=1)[0].transpose(1, 2, 0)))
    finally:
        runner.close()
    return out


def _sr_luma(runner, radius: int, y: np.ndarray, widest: int) -> np.ndarray:
    """The network on ``(1, 1, H, W)`` float32 luma in [0, 1]: ``(1, 1, sH, sW)`` float32 on the host."""
    h, w = y.shape[2:]
    tile = choose_tile(runner, 1, h, w, radius, channels=widest)
    if runner.host:  # NumPy in and out (OpenVINO, ONNX Runtime): PyTorch is never imported
        return run_tiled(runner, y, tile, radius)  # exact tiles if large
    import torch

    yt = torch.from_numpy(y).to(runner.device, runner.dtype).contiguous()
    return run_tiled(runner, yt, tile, radius).float().cpu().numpy()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file.

    Returns:
        ``(H, W)`` uint8 for grayscale files, else ``(H, W, 3)`` uint8 RGB (alpha dropped).

    Raises:
        MediaError: missing, unreadable or not an image.
        UsageError: an image in a format other than PNG or JPEG (WebP, GIF, TIFF ...).
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            if im.format not in _READ_FORMATS:
                raise UsageError(f"{path}: a {im.format} image; vsr image reads PNG and JPEG only: convert it "
                                 "to .png first")
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                log.warning("%s: transparency is dropped", path)
            return np.asarray(im.convert("L" if im.mode in ("1", "L", "LA") else "RGB"))
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MediaError(f"{path}: is a directory, not an image") from None
    except UnidentifiedImageError:
        raise MediaError(f"{path}: not an image Pillow can read") from None
    except OSError as e:
        raise MediaError(f"{path}: cannot read image ({cause(e)})") from e


def image_format(path: str | os.PathLike) -> str:
    """The Pillow format name for an output file's suffix (``.png``, ``.jpg``, ``.jpeg``).

    Raises:
        UsageError: any other suffix.
    """
    fmt = IMAGE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: vsr image writes PNG and JPEG only; name the output .png, .jpg or .jpeg")
    return fmt


def write_image(path: str | os.PathLike, rgb: np.ndarray, *, overwrite: bool = False, quality: int = 95) -> None:
    """Encode ``(H, W, 3)`` or ``(H, W)`` uint8 to PNG or JPEG (by suffix), atomically.

    The file is written under a temporary name beside ``path`` and renamed once
    complete (:func:`vsr.output.atomic_output`), so a failure leaves nothing at ``path``.

    Args:
        path: destination; its folder is created if missing.
        rgb: the image.
        overwrite: replace an existing file.
        quality: JPEG quality (1-95).

    Raises:
        UsageError: unsupported suffix.
        MediaError: the write failed.
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    fmt = image_format(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists (use --overwrite to replace it)")
    options = {"quality": quality} if fmt == "JPEG" else {}
    try:
        with atomic_output(path, overwrite) as tmp:
            Image.fromarray(rgb).save(tmp, format=fmt, **options)
    except OSError as e:
        raise MediaError(f"{path}: cannot write image ({cause(e)})") from e
