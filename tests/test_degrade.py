"""tools.degrade: the codecs really degrade the LR, more at higher CRF, and the cache it builds
holds aligned (degraded LR, HR) luma pairs."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from media import psnr


@pytest.fixture(scope="module")
def degrade():
    from tools import degrade

    return degrade


@pytest.fixture(scope="module")
def source(shared_data: Path) -> np.ndarray:
    """Set5 butterfly (256x256) as a packed yuv420p array."""
    rgb = np.asarray(Image.open(shared_data / "val" / "Set5" / "butterfly.png").convert("RGB"))
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p").to_ndarray()


def _panning_lr(degrade, source: np.ndarray, frames: int = 6, size: int = 64, scale: int = 2) -> list[np.ndarray]:
    """A crop panning 2 HR px right and down per frame, scaled by 1/scale with swscale bicubic."""
    out = []
    for t in range(frames):
        crop = degrade.crop_yuv(source, 40 + 2 * t, 30 + 2 * t, size * scale)
        out.append(av.VideoFrame.from_ndarray(crop, format="yuv420p").reformat(size, size, interpolation="BICUBIC")
                   .to_ndarray())
    return out


def _luma_psnr(a: list[np.ndarray], b: list[np.ndarray], size: int = 64) -> float:
    return psnr(np.stack([x[:size] for x in a]), np.stack([x[:size] for x in b]), 255.0)


def test_x264_degrades_more_as_crf_rises(degrade, source):
    clean = _panning_lr(degrade, source)
    got = {}
    for crf in (18, 28, 38):
        out = degrade.encode_decode("libx264", clean, {"crf": str(crf), "preset": "medium"})
        assert len(out) == len(clean) and out[0].shape == clean[0].shape and out[0].dtype == np.uint8
        got[crf] = _luma_psnr(out, clean)
    assert 35 < got[18] < 60, got  # close to, but not exactly, the clean LR
    assert got[18] > got[28] + 2 > got[38] + 4, got  # each step of 10 CRF costs dBs
    assert got[38] > 18, got  # blurred and blocky, not garbage


@pytest.mark.parametrize(("kind", "opts", "q"), [
    ("libx265", {"crf": "30", "preset": "fast", "x265-params": "log-level=none"}, 0),
    ("mpeg2video", {"bf": "2", "g": "12"}, 12),
    ("mpeg4", {"bf": "0", "g": "12"}, 12),
    ("jpeg", {}, 12),
])
def test_every_codec_round_trips_with_sane_loss(degrade, source, kind, opts, q):
    clean = _panning_lr(degrade, source, frames=1 if kind == "jpeg" else 5)
    out = degrade.encode_decode(kind, clean, opts, q)
    assert len(out) == len(clean) and out[0].shape == clean[0].shape
    db = _luma_psnr(out, clean)
    assert 22 < db < 45, f"{kind}: {db:.2f} dB"
    fine = degrade.encode_decode(kind, clean, opts, 2) if q else None
    if fine is not None:  # a finer quantiser loses less
        assert _luma_psnr(fine, clean) > db


def test_cache_holds_aligned_pairs(degrade, source, tmp_path):
    out = degrade.build_cache(tmp_path / "x2", 2, 40, seed=1, sources=[source])
    cache = degrade.load_cache(out)
    n = len(cache["lr"])
    assert 40 <= n <= 80 and cache["lr"].shape[1:] == (64, 64) and cache["hr"].shape == (n, 128, 128)
    assert cache["lr"].dtype == np.uint8 and cache["hr"].dtype == np.uint8
    kinds = np.asarray(cache["kind"])
    assert set(kinds.tolist()) > {0}  # clean and degraded samples
    assert not (tmp_path / "x2.partial").exists()
    # each LR is its HR scaled down (degraded, not displaced): luma PSNR against swscale's
    # bicubic of the HR crop is high for clean samples and still > 20 dB for the rest
    for i in range(n):
        hr = cache["hr"][i]
        down = av.VideoFrame.from_ndarray(hr, format="gray").reformat(64, 64, interpolation="BICUBIC").to_ndarray()
        db = psnr(cache["lr"][i], down, 255.0, border=2)
        assert db > (40 if kinds[i] == 0 else 20), (i, kinds[i], db)
