"""Separable bicubic resampling with sub-pixel offsets (chroma siting, exact target sizes).

One implementation for NumPy arrays (host backends) and torch tensors on any device (see
:mod:`vsr.upscale.arrays`): the taps are computed once in float64 NumPy and cached.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vsr.upscale import arrays
from vsr.upscale.siting import chroma_offset  # noqa: F401  (re-exported)

__all__ = ["A", "bicubic_taps", "resize", "chroma_offset"]

A = -0.75  # the cubic convolution parameter of FFmpeg's and PyTorch's bicubic


def _cubic(t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    near = ((A + 2) * t - (A + 3)) * t * t + 1
    far = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


@lru_cache(maxsize=64)
def bicubic_taps(n_in: int, n_out: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(n_out, 4)`` intp and weights ``(n_out, 4)`` float32 of a 1-D bicubic resize.

    Output sample ``j`` is centred at input coordinate ``(j + 0.5) * n_in / n_out - 0.5 + offset``
    (pixel centres at integers); edge samples are replicated.
    """
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5 + offset
    base = np.floor(x)
    k = np.arange(-1, 3, dtype=np.float64)
    w = _cubic(x[:, None] - (base[:, None] + k))
    w /= w.sum(1, keepdims=True)
    return np.clip(base[:, None] + k, 0, n_in - 1).astype(np.intp), w.astype(np.float32)


@lru_cache(maxsize=64)
def _phase_weights(r: int, offset: float) -> tuple[tuple[tuple[float, ...], ...], int, int]:
    """Integer factor ``r``: per output phase ``p`` the float32 weights of the taps over input
    ``q + lo .. q + hi`` (output ``j = r*q + p``), and the edge padding ``(-lo, hi)``."""
    x = (np.arange(r, dtype=np.float64) + 0.5) / r - 0.5 + offset  # position of phase p from q
    base = np.floor(x).astype(int)
    lo, hi = int(base.min()) - 1, int(base.max()) + 2
    kernel = np.zeros((r, hi - lo + 1))
    for p in range(r):
        taps = np.arange(-1, 3)
        w = _cubic(x[p] - (base[p] + taps))
        kernel[p, base[p] + taps - lo] = w / w.sum()
    return tuple(tuple(float(v) for v in row) for row in kernel.astype(np.float32)), -lo, hi


def _resize_last(x, n_out: int, offset: float):
    n_in = x.shape[-1]
    if n_in == n_out and offset == 0:
        return x
    offset = round(offset, 9)
    if n_out % n_in == 0:  # integer factor: a few shifted multiply-adds per output phase, any device
        weights, left, right = _phase_weights(n_out // n_in, offset)
        padded = arrays.pad_edge(x, left, right)
        phases = []
        for wp in weights:
            acc = None
            for t, wt in enumerate(wp):
                if wt:
                    term = padded[..., t : t + n_in] * wt
                    if acc is None:
                        acc = term
                    else:
                        acc += term
            phases.append(acc)
        return arrays.stack(phases, -1).reshape(*x.shape[:-1], n_out)
    return arrays.gather_taps(x, bicubic_taps, n_in, n_out, offset)


def resize(x, height: int, width: int, offset_y: float = 0.0, offset_x: float = 0.0):
    """Bicubic resize of ``(N, C, H, W)`` float planes to ``(N, C, height, width)``.

    Args:
        x: float32 NumPy array, or float torch tensor on any device.
        height, width: output size.
        offset_y, offset_x: shift of the sampling grid in input pixels (chroma siting).

    Returns:
        Resized planes, same kind, dtype and device, not clamped (NumPy's C-contiguous).
    """
    x = arrays.swap_last(_resize_last(arrays.swap_last(_resize_last(x, width, offset_x)), height, offset_y))
    return arrays.contiguous(x) if arrays.is_numpy(x) else x
