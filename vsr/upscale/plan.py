"""The tiling plan: which tile a backend call gets, and how tiles cover a frame exactly.

Shared by the NumPy and the device upscalers (and still images). A tile is cropped with
``overlap`` pixels of real context on every inner side (at least the network's receptive
radius), so the stitched output equals the untiled output.
"""

from __future__ import annotations

import logging
from typing import Iterator, NamedTuple

from vsr.upscale import arrays

__all__ = ["ACTIVATION_CHANNELS", "LIVE_ACTIVATIONS", "DEFAULT_MEMORY_BUDGET", "least_tile", "checked_tile",
           "choose_tile", "windows", "run_tiled"]

log = logging.getLogger(__name__)

ACTIVATION_CHANNELS = 64  # the widest activation when the model's card is not given (ModelCard.widest)
LIVE_ACTIVATIONS = 3  # feature maps alive at once in a runtime, roughly
DEFAULT_MEMORY_BUDGET = 2 << 30  # bytes of network activations per backend call


def least_tile(radius: int) -> int:
    """The smallest useful tile: each one adds at least 8 new pixels per side to the output.

    A tile chosen automatically is at least twice this, so that context is at most half of it.
    """
    return 2 * radius + 8


def checked_tile(tile: int, radius: int) -> int:
    """The user's ``--tile`` (0: automatic), raised to :func:`least_tile` with a warning."""
    if 0 < tile < least_tile(radius):
        log.warning("--tile %d is smaller than the %d pixels of context a tile needs on each side; using %d",
                    tile, radius, least_tile(radius))
        return least_tile(radius)
    return tile


def choose_tile(backend, n: int, h: int, w: int, radius: int, tile: int = 0,
                memory_budget: int = DEFAULT_MEMORY_BUDGET, channels: int = ACTIVATION_CHANNELS) -> int:
    """The tile size for a ``(n, 1, h, w)`` call; 0 for no tiling.

    ``tile`` if given (at least :func:`least_tile`), else the largest that honours every limit
    the backend declares: its ``max_size`` (a TensorRT engine's profile) and ``memory_budget``
    bytes of activations in its ``dtype``, ``channels`` wide (the model card's ``widest``).
    """
    if tile:
        return max(tile, least_tile(radius))
    max_size = getattr(backend, "max_size", None)
    if max_size is not None and (w > max_size[0] or h > max_size[1]):
        tile = min(max_size)
        log.info("frame %dx%d exceeds the engine's %dx%d: tiling at %d", w, h, max_size[0], max_size[1], tile)
    per_pixel = n * channels * LIVE_ACTIVATIONS * arrays.itemsize(backend.dtype)
    if h * w * per_pixel > memory_budget:
        fit = int((memory_budget / per_pixel) ** 0.5)
        tile = min(tile or fit, fit)
        log.info("frame %dx%d x%d needs more than %d MiB of activations: tiling at %d", w, h, n,
                 memory_budget >> 20, tile)
    return max(tile, 2 * least_tile(radius)) if tile else 0


class Window(NamedTuple):
    """One tile: input rows/columns ``[t0, t1) x [l0, l1)`` (with context) that produce the
    output of input ``[top, bottom) x [left, right)``."""

    top: int
    bottom: int
    left: int
    right: int
    t0: int
    t1: int
    l0: int
    l1: int


def windows(h: int, w: int, tile: int, overlap: int) -> Iterator[Window]:
    """The tiles that cover an ``h x w`` plane, at most ``tile`` pixels per side, all of one shape.

    Along each side the fewest tiles that fit share it evenly; the last ones are shifted back
    inside the frame rather than cut short. One shape matters: OpenVINO compiles, and keeps
    buffers for, each input shape it sees (per worker thread), so ragged edge tiles multiplied
    its memory by up to nine. Each tile's own output part (``top..bottom``, ``left..right``)
    keeps ``overlap`` pixels of real context on every inner side.
    """
    most = max(1, tile - 2 * overlap)  # output pixels a tile may add per side

    def spans(n: int) -> Iterator[tuple[int, int, int, int]]:
        step = -(-n // -(-n // most))  # n shared evenly by the fewest tiles of at most ``most``
        size = min(n, step + 2 * overlap)
        for start in range(0, n, step):
            lo = min(max(0, start - overlap), n - size)
            yield start, min(start + step, n), lo, lo + size

    for top, bottom, t0, t1 in spans(h):
        for left, right, l0, l1 in spans(w):
            yield Window(top, bottom, left, right, t0, t1, l0, l1)


def run_tiled(backend, y, tile: int, overlap: int):
    """Run ``backend`` on ``(N, 1, H, W)`` luma in tiles of at most ``tile`` pixels per side.

    Args:
        backend: its ``run`` takes and returns arrays of ``y``'s kind (NumPy or torch).
        y: luma in [0, 1], ``backend.dtype``, on the backend's device.
        tile: 0 (or at least the frame) for one call.
        overlap: context per inner side, at least the receptive radius for an exact result.

    Returns:
        ``(N, 1, scale*H, scale*W)``, equal to ``backend.run(y)``.
    """
    n, _, h, w = y.shape
    s = backend.scale
    if tile <= 0 or (h <= tile and w <= tile):
        return backend.run(y)
    out = None
    for t in windows(h, w, tile, overlap):
        part = backend.run(arrays.contiguous(y[:, :, t.t0:t.t1, t.l0:t.l1]))
        if out is None:
            out = arrays.empty(part, (n, 1, h * s, w * s))
        out[:, :, t.top * s : t.bottom * s, t.left * s : t.right * s] = part[
            :, :, (t.top - t.t0) * s : (t.bottom - t.t0) * s, (t.left - t.l0) * s : (t.right - t.l0) * s]
    return out
