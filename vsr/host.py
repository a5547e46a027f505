"""The CPU path in NumPy: backends that take host arrays (OpenVINO, ONNX Runtime), exact tiles,
bicubic chroma with its siting, quantisation — no PyTorch needed.

The same arithmetic as :mod:`vsr.upscaler` and :mod:`vsr.resample` (which serve PyTorch and
CUDA), on ``numpy`` arrays: luma ``(N, 1, H, W)`` float32 in [0, 1] goes to the backend, the
chroma planes ``(N, 2, h, w)`` are resampled here, and both are rounded back to code values.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vsr.frames import YuvFrame
from vsr.siting import chroma_offset

__all__ = ["HostUpscaler", "make_upscaler", "resize", "run_tiled", "choose_tile"]

log = logging.getLogger(__name__)

A = -0.75  # the cubic convolution parameter of FFmpeg's and PyTorch's bicubic
_ACTIVATION_CHANNELS = 64  # widest layer of the shipped networks (ESPCN 64, FSRCNN 56)
_LIVE_ACTIVATIONS = 3  # feature maps alive at once in a runtime, roughly


def _cubic(t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    near = ((A + 2) * t - (A + 3)) * t * t + 1
    far = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


@lru_cache(maxsize=64)
def _taps(n_in: int, n_out: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(n_out, 4)`` and float32 weights ``(n_out, 4)``: output ``j`` centred at input
    ``(j + 0.5) * n_in / n_out - 0.5 + offset``, edges replicated."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5 + offset
    base = np.floor(x)
    k = np.arange(-1, 3, dtype=np.float64)
    w = _cubic(x[:, None] - (base[:, None] + k))
    w /= w.sum(1, keepdims=True)
    return np.clip(base[:, None] + k, 0, n_in - 1).astype(np.intp), w.astype(np.float32)


@lru_cache(maxsize=64)
def _phase_weights(r: int, offset: float) -> tuple[tuple[tuple[float, ...], ...], int, int]:
    """Integer factor ``r``: per output phase the taps over input ``q + lo .. q + hi``."""
    x = (np.arange(r, dtype=np.float64) + 0.5) / r - 0.5 + offset
    base = np.floor(x).astype(int)
    lo, hi = int(base.min()) - 1, int(base.max()) + 2
    kernel = np.zeros((r, hi - lo + 1))
    for p in range(r):
        taps = np.arange(-1, 3)
        w = _cubic(x[p] - (base[p] + taps))
        kernel[p, base[p] + taps - lo] = w / w.sum()
    return tuple(tuple(float(v) for v in row) for row in kernel), -lo, hi


def _resize_last(x: np.ndarray, n_out: int, offset: float) -> np.ndarray:
    n_in = x.shape[-1]
    if n_in == n_out and offset == 0:
        return x
    if n_out % n_in == 0:  # integer factor: a few shifted multiply-adds per output phase
        weights, left, right = _phase_weights(n_out // n_in, round(offset, 9))
        pad = [(0, 0)] * (x.ndim - 1) + [(left, right)]
        padded = np.pad(x, pad, mode="edge")
        phases = []
        for wp in weights:
            acc = None
            for t, wt in enumerate(wp):
                if wt:
                    term = padded[..., t : t + n_in] * np.float32(wt)
                    acc = term if acc is None else np.add(acc, term, out=acc)
            phases.append(acc)
        return np.stack(phases, -1).reshape(*x.shape[:-1], n_out)
    idx, w = _taps(n_in, n_out, round(offset, 9))
    return np.einsum("...jk,jk->...j", x[..., idx], w)


def resize(x: np.ndarray, height: int, width: int, offset_y: float = 0.0, offset_x: float = 0.0) -> np.ndarray:
    """Bicubic resize of ``(N, C, H, W)`` float32 planes to ``(N, C, height, width)`` (as
    :func:`vsr.resample.resize`); ``offset_y``/``offset_x`` shift the grid in input pixels."""
    x = _resize_last(x, width, offset_x)
    return np.ascontiguousarray(np.swapaxes(_resize_last(np.swapaxes(x, -1, -2), height, offset_y), -1, -2))


def run_tiled(backend, y: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    """``backend.run`` on ``(N, 1, H, W)`` float32 in tiles of at most ``tile`` pixels per side,
    each with ``overlap`` pixels of real context, stitched to exactly the untiled output."""
    n, _, h, w = y.shape
    s = backend.scale
    if tile <= 0 or (h <= tile and w <= tile):
        return backend.run(y)
    step = max(1, tile - 2 * overlap)
    out = np.empty((n, 1, h * s, w * s), dtype=np.float32)
    for top in range(0, h, step):
        for left in range(0, w, step):
            bottom, right = min(top + step, h), min(left + step, w)
            t0, l0 = max(0, top - overlap), max(0, left - overlap)
            t1, l1 = min(h, bottom + overlap), min(w, right + overlap)
            part = backend.run(np.ascontiguousarray(y[:, :, t0:t1, l0:l1]))
            out[:, :, top * s : bottom * s, left * s : right * s] = part[
                :, :, (top - t0) * s : (bottom - t0) * s, (left - l0) * s : (right - l0) * s]
    return out


def choose_tile(n: int, h: int, w: int, radius: int, tile: int = 0, memory_budget: int = 2 << 30) -> int:
    """The tile for a ``(n, 1, h, w)`` float32 call: ``tile`` if given (at least the least useful
    size), else one that keeps the activations within ``memory_budget`` bytes; 0 for none."""
    least = 2 * radius + 8
    if tile:
        return max(tile, least)
    per_pixel = n * _ACTIVATION_CHANNELS * _LIVE_ACTIVATIONS * 4
    if h * w * per_pixel <= memory_budget:
        return 0
    fit = int((memory_budget / per_pixel) ** 0.5)
    log.info("frame %dx%d x%d needs more than %d MiB of activations: tiling at %d", w, h, n,
             memory_budget >> 20, fit)
    return max(fit, 4 * radius + 16)


def _quantise(x: np.ndarray, maxv: float, dtype: np.dtype) -> np.ndarray:
    """[0, 1] floats -> code values ``round(x * maxv)`` clamped to ``[0, maxv]``.

    One float temporary, rounded and clamped in place: at 8K x2 each full-size float
    plane is 0.5 GiB, and this keeps the peak at one of them."""
    y = np.multiply(x, np.float32(maxv))
    np.rint(y, out=y)
    np.clip(y, 0, maxv, out=y)
    return y.astype(dtype)


@dataclass
class _Pending:
    frames: list[YuvFrame]
    planes: list[np.ndarray] | Future  # per plane: (N, h, w) code values


class HostUpscaler:
    """:class:`vsr.upscaler.Upscaler` for backends that take host arrays (``backend.host``).

    Args:
        backend: runs the network on ``(N, 1, H, W)`` float32 NumPy arrays.
        radius: receptive radius of the network (tile overlap).
        tile: tile size in input pixels (0: whole frames unless too large for ``memory_budget``).
        size: output ``(width, height)``; None for ``scale`` times the input (else a bicubic resize).
        memory_budget: bytes of activations allowed per backend call.
        workers: batches computed at once in worker threads (the backend is thread-safe).
    """

    def __init__(self, backend, radius: int, tile: int = 0, size: tuple[int, int] | None = None,
                 memory_budget: int = 2 << 30, workers: int = 1) -> None:
        self.backend, self.radius, self.size, self.memory_budget = backend, radius, size, memory_budget
        self.device = backend.device
        if 0 < tile < 2 * radius + 8:
            log.warning("--tile %d is smaller than the %d pixels of context a tile needs on each side; using %d",
                        tile, radius, 2 * radius + 8)
            tile = 2 * radius + 8
        self.tile = tile
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vsr-infer") if workers > 1 else None
        self.in_flight = max(1, workers)

    def output_size(self, frame: YuvFrame) -> tuple[int, int]:
        """Output ``(width, height)`` for a source frame."""
        return self.size or (frame.width * self.backend.scale, frame.height * self.backend.scale)

    def _compute(self, frames: list[YuvFrame]) -> list[np.ndarray]:
        f0 = frames[0]
        maxv = float(f0.max_value)
        out_w, out_h = self.output_size(f0)
        dtype = f0.planes[0].dtype
        y = np.stack([f.planes[0] for f in frames])[:, None].astype(np.float32) / np.float32(maxv)
        sy = run_tiled(self.backend, y, choose_tile(len(frames), f0.height, f0.width, self.radius, self.tile,
                                                    self.memory_budget), self.radius)
        if sy.shape[-2:] != (out_h, out_w):
            sy = resize(sy, out_h, out_w)
        out = [_quantise(sy[:, 0], maxv, dtype)]
        if not f0.gray:
            ch, cw = f0.chroma_size(out_w, out_h)
            lw, lh = f0.log2_chroma
            uv = np.stack([np.stack([f.planes[1], f.planes[2]]) for f in frames]).astype(np.float32) / np.float32(maxv)
            oy = chroma_offset(uv.shape[-2], ch, lh, sited_left=False)
            ox = chroma_offset(uv.shape[-1], cw, lw, sited_left=True)
            uv = resize(uv, ch, cw, oy, ox)
            out += [_quantise(uv[:, 0], maxv, dtype), _quantise(uv[:, 1], maxv, dtype)]
        return out

    def submit(self, frames: list[YuvFrame]) -> _Pending:
        """Start upscaling a batch of same-size frames (in a worker thread when there are several)."""
        if self._pool is not None:
            return _Pending(frames, self._pool.submit(self._compute, frames))
        return _Pending(frames, self._compute(frames))

    def collect(self, pending: _Pending) -> list[YuvFrame]:
        """Wait for a submitted batch and return its upscaled frames."""
        planes = pending.planes.result() if isinstance(pending.planes, Future) else pending.planes
        return [f.with_planes(tuple(p[i] for p in planes)) for i, f in enumerate(pending.frames)]

    def upscale(self, frames: list[YuvFrame]) -> list[YuvFrame]:
        """Upscale a batch synchronously."""
        return self.collect(self.submit(frames))

    def close(self) -> None:
        """Stop the worker threads (the backend belongs to the caller)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def make_upscaler(backend, radius: int, tile: int = 0, size: tuple[int, int] | None = None, **kwargs):
    """:class:`HostUpscaler` for a backend on host arrays, else the PyTorch :class:`vsr.upscaler.Upscaler`."""
    if backend.host:
        return HostUpscaler(backend, radius, tile, size, **kwargs)
    from vsr.upscaler import Upscaler

    return Upscaler(backend, radius, tile, size, **kwargs)
