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


def _resize_numpy(x: np.ndarray, n_out: int, offset: float, axis: int) -> np.ndarray:
    """Integer-factor resize of a float32 NumPy array along ``axis`` (-1 or -2) without moving
    axes: each phase's taps are multiply-added into a preallocated strided view of the output,
    strip by strip (:data:`~vsr.upscale.arrays.STRIP_BYTES`) so a strip's output stays in cache
    while its phases fill it; no transposed copies, no full-size temporaries (4:2:0 chroma of
    a 1080p frame at x2: 229 -> 70 ms on a shared 2-vCPU Xeon; the same float32 sums, bit
    for bit, as the generic path)."""
    n_in, width = x.shape[axis], x.shape[-1]
    weights, left, right = _phase_weights(n_out // n_in, offset)
    r = len(weights)
    if axis == -1:  # rows (M, n_in) -> (M, n_in, r), in strips of rows
        padded = np.pad(x.reshape(-1, n_in), [(0, 0), (left, right)], mode="edge")
        out = np.empty((padded.shape[0], n_in, r), np.float32)
        step = max(1, arrays.STRIP_BYTES // (4 * n_out))
        strips = [(padded[i : i + step], out[i : i + step]) for i in range(0, len(out), step)]
        tap = lambda src, t, n: src[:, t : t + n_in]  # noqa: E731
        phase = lambda dst, p: dst[:, :, p]  # noqa: E731
    else:  # planes (M, n_in, W) -> (M, n_in, r, W), in strips of input rows
        padded = np.pad(x.reshape(-1, n_in, width), [(0, 0), (left, right), (0, 0)], mode="edge")
        out = np.empty((padded.shape[0], n_in, r, width), np.float32)
        step = max(1, arrays.STRIP_BYTES // (4 * r * width))
        strips = [(padded[m, q:], out[m, q : q + step]) for m in range(len(out)) for q in range(0, n_in, step)]
        tap = lambda src, t, n: src[t : t + n]  # noqa: E731
        phase = lambda dst, p: dst[:, p]  # noqa: E731
    tmp = np.empty(phase(strips[0][1], 0).shape, np.float32)
    for src, dst in strips:
        n = len(dst)
        for p, wp in enumerate(weights):
            acc, first = phase(dst, p), True
            for t, wt in enumerate(wp):
                if wt:
                    np.multiply(tap(src, t, n), np.float32(wt), out=acc if first else tmp[:n])
                    if not first:
                        acc += tmp[:n]
                    first = False
    shape = list(x.shape)
    shape[axis] = n_out
    return out.reshape(shape)


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
    if arrays.is_numpy(x) and width % x.shape[-1] == 0 and height % x.shape[-2] == 0:
        x = x if width == x.shape[-1] and offset_x == 0 else _resize_numpy(x, width, round(offset_x, 9), -1)
        return x if height == x.shape[-2] and offset_y == 0 else _resize_numpy(x, height, round(offset_y, 9), -2)
    x = arrays.swap_last(_resize_last(arrays.swap_last(_resize_last(x, width, offset_x)), height, offset_y))
    return arrays.contiguous(x) if arrays.is_numpy(x) else x
