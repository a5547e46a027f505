"""Image-quality protocol of the SR literature: BT.601 luma, bicubic LR, PSNR and SSIM.

Follows the protocol of Set5/Set14 papers: HR cropped to a multiple of the scale, LR
made by antialiased bicubic (Pillow's BICUBIC, close to MATLAB ``imresize``), PSNR and
SSIM on the MATLAB ``rgb2ycbcr`` luma (values in [16, 235]) with ``scale`` pixels shaved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y", "modcrop", "downscale", "upscale_rgb", "upscale_bicubic",
           "psnr", "ssim"]

# MATLAB rgb2ycbcr: limited-range BT.601 on R, G, B in [0, 1]
_M = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
_OFF = np.array([16.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(H, W, 3)`` float64 YCbCr (Y in [16, 235], C in [16, 240])."""
    return rgb.astype(np.float64) / 255.0 @ _M.T + _OFF


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`: float YCbCr -> ``(H, W, 3)`` uint8 RGB (rounded, clipped)."""
    rgb = (ycc - _OFF) @ np.linalg.inv(_M).T * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB (or ``(H, W)`` gray) -> ``(H, W)`` float64 luma in [16, 235]."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    return rgb_to_ycbcr(rgb)[..., 0]


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop height and width down to multiples of ``scale`` (top-left kept)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def downscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    """Antialiased bicubic downscale by an integer factor (uint8 in, uint8 out)."""
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((w // scale, h // scale), Image.BICUBIC))


def upscale_rgb(rgb: np.ndarray, scale: int) -> np.ndarray:
    """Pillow's bicubic upscale by an integer factor (uint8 in, uint8 out): the bicubic baseline
    of the Set5 protocol (``tools/evaluate.py``)."""
    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((w * scale, h * scale), Image.BICUBIC))


def upscale_bicubic(plane: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize (a = -0.75, half-pixel centres, edge replicated) of ``(N, C, H, W)`` float planes.

    Returns a tensor of the same dtype and device of spatial ``size`` (not clamped).
    """
    import torch.nn.functional as F

    return F.interpolate(plane, size=size, mode="bicubic", align_corners=False)


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0, peak: float = 255.0) -> float:
    """PSNR in dB between two same-size planes, ``border`` pixels shaved on each side."""
    a, b = _shave(a, border), _shave(b, border)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, border: int = 0, peak: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, 'valid' filtering) of two planes."""
    import torch
    import torch.nn.functional as F

    a = torch.from_numpy(_shave(a, border).astype(np.float64))[None, None]
    b = torch.from_numpy(_shave(b, border).astype(np.float64))[None, None]
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    gx, gy = g.view(1, 1, 1, 11), g.view(1, 1, 11, 1)

    def win(x: torch.Tensor) -> torch.Tensor:  # separable 11x11 Gaussian, 'valid'
        return F.conv2d(F.conv2d(x, gx), gy)

    mu_a, mu_b = win(a), win(b)
    saa = win(a * a) - mu_a**2
    sbb = win(b * b) - mu_b**2
    sab = win(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return float(m.mean())


def _shave(x: np.ndarray, border: int) -> np.ndarray:
    return x[border:-border, border:-border] if border else x
