"""The few array operations the upscale stage needs, on NumPy arrays or torch tensors alike.

The tiling, the resampler and the quantiser are written once against these; a NumPy array
stays in NumPy (PyTorch is never imported for it), a tensor stays on its device. Torch is
only imported when a tensor is handed in, that is when it is already loaded.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vsr.devices import STRIP_BYTES  # NumPy passes over big planes go strip by strip

__all__ = ["is_numpy", "itemsize", "empty", "contiguous", "stack", "swap_last", "pad_edge", "gather_taps",
           "normalise", "to_float32", "quantise", "to_numpy"]


def is_numpy(x) -> bool:
    """True for a NumPy array, False for a torch tensor."""
    return isinstance(x, np.ndarray)


def itemsize(dtype) -> int:
    """Bytes per element of a NumPy or torch dtype (``np.float32``, ``torch.float16``, ...)."""
    size = getattr(dtype, "itemsize", None)
    return size if isinstance(size, int) else np.dtype(dtype).itemsize


def empty(like, shape: tuple[int, ...]):
    """An uninitialised array of ``shape`` with ``like``'s dtype (and device)."""
    return np.empty(shape, dtype=like.dtype) if is_numpy(like) else like.new_empty(shape)


def contiguous(x):
    """``x`` in C order (a copy only when it is a strided view)."""
    return np.ascontiguousarray(x) if is_numpy(x) else x.contiguous()


def stack(xs: list, axis: int):
    """Stack arrays of one kind along a new ``axis``."""
    if is_numpy(xs[0]):
        return np.stack(xs, axis)
    import torch

    return torch.stack(xs, axis)


def swap_last(x):
    """``x`` with its last two axes swapped (a view)."""
    return np.swapaxes(x, -1, -2) if is_numpy(x) else x.transpose(-1, -2)


def pad_edge(x, left: int, right: int):
    """``x`` padded along its last axis by replicating the edge samples."""
    if is_numpy(x):
        return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)], mode="edge")
    import torch.nn.functional as F

    shape = x.shape
    padded = F.pad(x.reshape(-1, 1, shape[-1]), (left, right), mode="replicate")
    return padded.reshape(*shape[:-1], shape[-1] + left + right)




@lru_cache(maxsize=32)
def _device_taps(taps, key: tuple, device):
    import torch

    idx, w = taps(*key)
    return torch.from_numpy(idx).to(device), torch.from_numpy(w).to(device)


def gather_taps(x, taps, *key):
    """``out[..., j] = sum_k x[..., idx[j, k]] * w[j, k]`` with ``idx, w = taps(*key)``, two
    ``(n_out, K)`` NumPy arrays (intp indices, float32 weights).

    On a device the taps are copied there once per ``(taps, key, device)``, not once per frame
    (a fresh pair would be a blocking copy on a GPU).
    """
    if is_numpy(x):
        idx, w = taps(*key)
        return np.einsum("...jk,jk->...j", x[..., idx], w)
    ti, tw = _device_taps(taps, key, x.device)
    return (x[..., ti] * tw.to(x.dtype)).sum(-1)


def normalise(x, maxv: float, dtype=None):
    """Integer code values -> floats in [0, 1]: float32 for NumPy, ``dtype`` (default float32) for tensors."""
    if is_numpy(x):
        return np.divide(x, np.float32(maxv), dtype=np.float32)  # one pass, no float copy of x first
    return x.to(dtype) / maxv if dtype is not None else x.float() / maxv


def to_float32(x):
    """``x`` as float32 (no copy when it already is)."""
    return x.astype(np.float32, copy=False) if is_numpy(x) else x.float()


def quantise(x, maxv: float, dtype, in_place: bool = False):
    """[0, 1] floats -> code values ``round(x * maxv)`` (half to even) clamped to ``[0, maxv]``.

    NumPy works through the plane in strips of about :data:`STRIP_BYTES` of floats, so the
    scaled, rounded and clamped strip is still in the core's cache when it is cast: one pass
    over memory instead of four (a 4K luma plane: 113 -> 30 ms on a shared 2-vCPU Xeon), and
    no full-size temporary (at 8K x2 a float plane is 0.5 GiB). A float32 tensor is rounded in
    place with ``in_place`` (``x`` is then the caller's to spend), else in a copy.
    """
    if is_numpy(x):
        out = np.empty(x.shape, dtype)
        rows = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x.reshape(1, -1)
        dst = out.reshape(rows.shape)
        step = max(1, STRIP_BYTES // (4 * rows.shape[1]))
        tmp = np.empty((min(step, rows.shape[0]), rows.shape[1]), np.float32)
        for i in range(0, rows.shape[0], step):
            t = tmp[: min(step, rows.shape[0] - i)]
            np.multiply(rows[i : i + step], np.float32(maxv), out=t)
            np.rint(t, out=t)
            np.clip(t, 0, maxv, out=t)
            dst[i : i + step] = t
        return out
    y = x.float()  # x itself when it is float32: a copy unless ``in_place`` (``x`` is the caller's to spend)
    if y is x and not in_place:
        y = y.clone()
    return y.mul_(maxv).round_().clamp_(0, maxv).to(dtype)


def to_numpy(x) -> np.ndarray:
    """A host array as NumPy (a tensor on the CPU shares its memory); int16 code values read as uint16."""
    a = x if is_numpy(x) else x.numpy()
    return a.view(np.uint16) if a.dtype == np.int16 else a
