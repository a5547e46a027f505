"""The evaluation protocol reproduces the bicubic figures the literature publishes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vsr.quality import downscale, modcrop, psnr, rgb_to_y, rgb_to_ycbcr, ssim, upscale_bicubic, ycbcr_to_rgb

# Set5 bicubic luma PSNR (dB) as published (e.g. SRCNN, VDSR, EDSR tables)
PUBLISHED_SET5_BICUBIC = {2: 33.66, 3: 30.39, 4: 28.42}


@pytest.mark.parametrize("scale", sorted(PUBLISHED_SET5_BICUBIC))
def test_set5_bicubic_matches_published(scale: int, shared_data: Path) -> None:
    vals = []
    for f in sorted((shared_data / "val" / "Set5").glob("*.png")):
        hr = modcrop(np.asarray(Image.open(f).convert("RGB")), scale)
        lr = downscale(hr, scale)
        up = np.asarray(Image.fromarray(lr).resize(hr.shape[1::-1], Image.BICUBIC))
        vals.append(psnr(rgb_to_y(up), rgb_to_y(hr), scale))
    assert len(vals) == 5
    assert abs(np.mean(vals) - PUBLISHED_SET5_BICUBIC[scale]) < 0.02


def test_ycbcr_round_trip(rng) -> None:
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    ycc = rgb_to_ycbcr(rgb)
    assert ycc[..., 0].min() >= 16 and ycc[..., 0].max() <= 235
    np.testing.assert_array_equal(ycbcr_to_rgb(ycc), rgb)
    np.testing.assert_array_equal(rgb_to_y(rgb[..., 0]), rgb_to_ycbcr(np.repeat(rgb[..., :1], 3, 2))[..., 0])


def test_psnr_and_ssim_basics(rng) -> None:
    a = rng.uniform(0, 255, (32, 32))
    assert psnr(a, a) == float("inf")
    assert ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, a + 1) == pytest.approx(10 * np.log10(255**2))
    noise = rng.normal(0, 1, a.shape)
    assert 1 > ssim(a, a + 5 * noise) > ssim(a, a + 50 * noise) > 0


def test_upscale_bicubic_keeps_constants() -> None:
    x = torch.full((1, 2, 4, 6), 128.0, dtype=torch.float64)
    out = upscale_bicubic(x, (8, 12))
    assert out.shape == (1, 2, 8, 12) and out.dtype == torch.float64
    torch.testing.assert_close(out, torch.full_like(out, 128.0))
