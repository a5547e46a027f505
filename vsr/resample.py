"""Separable bicubic resampling with sub-pixel offsets (for chroma siting and exact target sizes)."""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from vsr.siting import chroma_offset  # noqa: F401  (re-exported)

__all__ = ["bicubic_taps", "resize", "chroma_offset"]

A = -0.75  # the cubic convolution parameter FFmpeg's and PyTorch's bicubic use


def _cubic(t: torch.Tensor) -> torch.Tensor:
    t = t.abs()
    near = ((A + 2) * t - (A + 3)) * t * t + 1
    far = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


@lru_cache(maxsize=64)
def _taps_cpu(n_in: int, n_out: int, offset: float) -> tuple[torch.Tensor, torch.Tensor]:
    x = (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5 + offset
    base = torch.floor(x)
    k = torch.arange(-1, 3, dtype=torch.float64)
    w = _cubic(x[:, None] - (base[:, None] + k))
    w = w / w.sum(1, keepdim=True)
    idx = (base[:, None] + k).clamp_(0, n_in - 1).long()
    return idx, w.float()


@lru_cache(maxsize=32)
def bicubic_taps(n_in: int, n_out: int, offset: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(n_out, 4)`` int64 and weights ``(n_out, 4)`` float32 of a 1-D bicubic resize.

    Output sample ``j`` is centred at input coordinate ``(j + 0.5) * n_in / n_out - 0.5 + offset``
    (pixel centres at integers); edge samples are replicated. Cached: every frame of a video
    uses the same few, and on a GPU a fresh pair would be a blocking copy per frame.
    """
    idx, w = _taps_cpu(n_in, n_out, round(offset, 9))
    return idx.to(device), w.to(device)


@lru_cache(maxsize=64)
def _phase_kernel(r: int, offset: float) -> tuple[torch.Tensor, int, int]:
    """For an integer factor r: per output phase p the 4 taps as one ``(r, 1, 1, k)`` kernel.

    Output ``j = r*q + p`` reads input ``q + d`` for ``d`` in ``[lo, lo + k)``; returns the
    kernel and the padding ``(left, right)`` that replicates edge samples.
    """
    x = (torch.arange(r, dtype=torch.float64) + 0.5) / r - 0.5 + offset  # position of phase p from q
    base = torch.floor(x).long()
    lo, hi = int(base.min()) - 1, int(base.max()) + 2
    k = hi - lo + 1
    kernel = torch.zeros(r, k, dtype=torch.float64)
    for p in range(r):
        taps = torch.arange(-1, 3)
        w = _cubic(x[p] - (base[p] + taps).double())
        kernel[p, base[p] + taps - lo] = w / w.sum()
    return kernel.float().view(r, 1, 1, k), -lo, hi


def _resize_last(x: torch.Tensor, n_out: int, offset: float) -> torch.Tensor:
    n_in = x.shape[-1]
    if n_in == n_out and offset == 0:
        return x
    if n_out % n_in == 0 and x.dim() == 4:  # integer factor: one strided-free convolution per phase
        r = n_out // n_in
        kernel, left, right = _phase_kernel(r, round(offset, 9))
        n, c, h, _ = x.shape
        padded = F.pad(x.reshape(n * c, 1, h, n_in), (left, right, 0, 0), mode="replicate")[:, 0]
        weights = kernel.view(r, -1).tolist()
        phases = []
        for wp in weights:  # a few shifted multiply-adds per phase: cheap on any device
            acc = None
            for t, wt in enumerate(wp):
                if wt:
                    term = padded[..., t : t + n_in] * wt
                    acc = term if acc is None else acc.add_(term)
            phases.append(acc)
        return torch.stack(phases, -1).reshape(n, c, h, n_out)
    idx, w = bicubic_taps(n_in, n_out, offset, x.device)
    g = x[..., idx]  # (..., n_out, 4)
    return (g * w.to(x.dtype)).sum(-1)


def resize(x: torch.Tensor, height: int, width: int, offset_y: float = 0.0, offset_x: float = 0.0) -> torch.Tensor:
    """Bicubic resize of ``(N, C, H, W)`` float planes to ``(N, C, height, width)``.

    Args:
        x: float planes on any device.
        height, width: output size.
        offset_y, offset_x: shift of the sampling grid in input pixels.

    Returns:
        Resized planes, same dtype and device, not clamped.
    """
    x = _resize_last(x, width, offset_x)
    return _resize_last(x.transpose(-1, -2), height, offset_y).transpose(-1, -2)
