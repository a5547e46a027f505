"""Training patches: (LR, HR) luma pairs from an image folder or from the codec-degraded cache
of :mod:`tools.degrade`, drawn at random with the 8 flips/rotations.

Every batch is a pair of float32 CPU tensors in [0, 1]: LR ``(N, 1, P, P)`` and HR
``(N, 1, P*scale, P*scale)``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vsr.quality import downscale, modcrop, rgb_to_y

log = logging.getLogger("train")
IMAGE_EXT = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}


def load_pairs(folder: Path, scale: int, jitter: tuple[float, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(LR, HR) float32 luma pairs in [0, 1] (Y / 255) for every image and jitter factor."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)
    if not files:
        raise SystemExit(f"no images under {folder}")
    pairs = []
    for f in files:
        img = Image.open(f).convert("RGB")
        for j in jitter:
            im = img if j == 1 else img.resize((round(img.width * j), round(img.height * j)), Image.BICUBIC)
            hr = modcrop(np.asarray(im), scale)
            if min(hr.shape[:2]) < 8 * scale:
                continue
            lr = downscale(hr, scale)
            pairs.append(((rgb_to_y(lr) / 255).astype(np.float32), (rgb_to_y(hr) / 255).astype(np.float32)))
    log.info("%d images, %d training pairs (jitter %s)", len(files), len(pairs), jitter)
    return pairs


class PatchSampler:
    """Random aligned LR/HR patches with the 8 flips/rotations, drawn by image area."""

    def __init__(self, pairs, scale: int, patch: int, rng: np.random.Generator) -> None:
        self.pairs = [p for p in pairs if min(p[0].shape) >= patch]
        area = np.array([p[0].size for p in self.pairs], dtype=np.float64)
        self.prob = area / area.sum()
        self.scale, self.patch, self.rng = scale, patch, rng

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n,1,p,p)`` LR and ``(n,1,rp,rp)`` HR float32 tensors in [0, 1]."""
        p, r = self.patch, self.scale
        lrs = np.empty((n, p, p), np.float32)
        hrs = np.empty((n, p * r, p * r), np.float32)
        for i, k in enumerate(self.rng.choice(len(self.pairs), n, p=self.prob)):
            lr, hr = self.pairs[k]
            y = self.rng.integers(0, lr.shape[0] - p + 1)
            x = self.rng.integers(0, lr.shape[1] - p + 1)
            lrs[i] = lr[y : y + p, x : x + p]
            hrs[i] = hr[y * r : (y + p) * r, x * r : (x + p) * r]
        return augment(lrs, hrs, self.rng)


class CacheSampler:
    """Random patches of the degraded cache (``tools/degrade.py``), with the 8 flips/rotations.

    The last :func:`holdout` pairs are kept out of training for :func:`validate_cache`. With
    ``levels``, half the pairs get a random gain (0.8-1.2 about code 128) and offset (+-16
    codes), the same on LR and HR: the cache's HR luma never leaves [16, 235] (stills are
    converted to limited range), while codec undershoot puts LR below 16 near black, so
    without it the network learns to lift everything under 16 -- real clips with sub-black
    content (phone video) then lose up to several dB.

    With ``focus = (lo, hi, share)`` (the last stage of a CASR-like schedule) a ``share`` of
    each batch is drawn from the x264/x265 pairs at CRF ``lo``-``hi``, the rest from the whole
    cache, so the other codecs and the clean pairs are not forgotten.
    """

    def __init__(self, cache: dict[str, np.ndarray], scale: int, patch: int, rng: np.random.Generator,
                 levels: bool = True, focus: tuple[int, int, float] | None = None) -> None:
        self.lr, self.hr = cache["lr"], cache["hr"]
        self.levels = levels
        self.n = len(self.lr) - holdout(cache)
        self.scale, self.patch, self.rng = scale, patch, rng
        self.focus, self.share = np.arange(0), 0.0
        if focus:
            kind, quality = np.asarray(cache["kind"][: self.n]), np.asarray(cache["quality"][: self.n])
            h26x = (kind == H26X[0]) | (kind == H26X[1])
            self.focus = np.flatnonzero(h26x & (quality >= focus[0]) & (quality <= focus[1]))
            self.share = focus[2] if len(self.focus) else 0.0

    def indices(self, n: int) -> np.ndarray:
        """``n`` random training pair indices (a ``share`` of them from the focus range)."""
        k = self.rng.integers(0, self.n, n)
        if self.share:
            pick = self.rng.random(n) < self.share
            k[pick] = self.focus[self.rng.integers(0, len(self.focus), int(pick.sum()))]
        return k

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n,1,p,p)`` LR and ``(n,1,rp,rp)`` HR float32 tensors in [0, 1]."""
        p, r, size = self.patch, self.scale, self.lr.shape[1]
        lrs = np.empty((n, p, p), np.float32)
        hrs = np.empty((n, p * r, p * r), np.float32)
        for i, k in enumerate(self.indices(n)):
            y, x = self.rng.integers(0, size - p + 1, 2)
            lrs[i] = self.lr[k, y : y + p, x : x + p]
            hrs[i] = self.hr[k, y * r : (y + p) * r, x * r : (x + p) * r]
        if self.levels:  # the same random gain and offset on LR and HR, clipped to 8 bits
            g = self.rng.uniform(0.8, 1.2, (n, 1, 1)).astype(np.float32)
            o = self.rng.uniform(-16, 16, (n, 1, 1)).astype(np.float32)
            keep = self.rng.random(n) < 0.5
            g[keep], o[keep] = 1, 0
            lrs = np.clip((lrs - 128) * g + 128 + o, 0, 255)
            hrs = np.clip((hrs - 128) * g + 128 + o, 0, 255)
        return augment(lrs / 255, hrs / 255, self.rng)


H26X = (1, 2)  # libx264, libx265 in tools/degrade.py's KINDS


def augment(lrs: np.ndarray, hrs: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pair flipped/rotated by one of the 8 symmetries; ``(n,1,p,p)``, ``(n,1,rp,rp)`` tensors."""
    t = rng.integers(0, 8, len(lrs))
    flip = t & 1 == 1
    lrs[flip], hrs[flip] = lrs[flip, :, ::-1], hrs[flip, :, ::-1]
    rot = t >> 1
    for k in (1, 2, 3):
        m = rot == k
        lrs[m] = np.rot90(lrs[m], k, axes=(1, 2))
        hrs[m] = np.rot90(hrs[m], k, axes=(1, 2))
    return torch.from_numpy(np.ascontiguousarray(lrs[:, None], np.float32)), \
        torch.from_numpy(np.ascontiguousarray(hrs[:, None], np.float32))


def holdout(cache: dict[str, np.ndarray]) -> int:
    """How many pairs at the end of the cache are kept for validation: 256, at most an eighth."""
    return min(256, len(cache["lr"]) // 8)


def parse_focus(text: str | None) -> tuple[int, int, float] | None:
    """``"24-36:0.6"`` -> ``(24, 36, 0.6)``; None -> None."""
    if text is None:
        return None
    try:
        crf, share = text.split(":")
        lo, hi = (int(v) for v in crf.split("-"))
        share_f = float(share)
    except ValueError:
        raise SystemExit(f"--focus {text}: expected LO-HI:SHARE, e.g. 24-36:0.6") from None
    if not (0 <= lo <= hi and 0 < share_f <= 1):
        raise SystemExit(f"--focus {text}: need 0 <= LO <= HI and 0 < SHARE <= 1")
    return lo, hi, share_f
