"""The upscale stage on host arrays: batches of YuvFrames through a backend that takes NumPy
(OpenVINO, ONNX Runtime), chroma bicubic with its siting, quantisation — no PyTorch needed.

Luma ``(N, 1, H, W)`` float32 in [0, 1] goes to the backend (tiled by :mod:`vsr.upscale.plan`),
the chroma planes ``(N, 2, h, w)`` are resampled by :mod:`vsr.upscale.resample`, and both are
rounded back to code values. :class:`vsr.upscale.device.DeviceUpscaler` runs the same steps on
torch tensors, adding the copies to and from a GPU.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from vsr.frames import YuvFrame
from vsr.upscale import arrays
from vsr.upscale.budget import DEFAULT_BUDGET, Allotment, allot, plane_bytes
from vsr.upscale.plan import ACTIVATION_CHANNELS, checked_tile, choose_tile, run_tiled
from vsr.upscale.resample import resize
from vsr.upscale.siting import chroma_offset

__all__ = ["HostUpscaler", "Pending"]

log = logging.getLogger(__name__)


@dataclass
class Pending:
    """A submitted batch: its source frames and, per plane, ``(N, h, w)`` code values (or the
    future of them); ``done`` is the CUDA event that marks them copied to the host."""

    frames: list[YuvFrame]
    planes: list[Any] | Future
    done: Any = None


class HostUpscaler:
    """Turns batches of source YuvFrames into upscaled YuvFrames.

    Args:
        backend: runs the network on ``(N, 1, H, W)`` luma (NumPy float32 for this class).
        radius: receptive radius of the network (tile overlap).
        tile: tile size in input pixels (0: whole frames, unless the backend's limits or
            ``memory_budget`` force tiling).
        size: output ``(width, height)``; None for exactly ``scale`` times the input.
            A size other than the network's output is reached by a bicubic resize.
        memory_budget: bytes for every batch in flight, their planes and the activations of their
            tiles (:mod:`vsr.upscale.budget`): large frames get fewer batches at once and smaller tiles.
        channels: the model's widest activation (:attr:`vsr.models.registry.ModelCard.widest`).
        workers: batches computed at once in worker threads (the backend must be thread-safe,
            as ONNX Runtime, OpenVINO and PyTorch are).

    Attributes:
        in_flight: how many batches a caller should keep submitted before collecting.
    """

    def __init__(self, backend, radius: int, tile: int = 0, size: tuple[int, int] | None = None,
                 memory_budget: int = DEFAULT_BUDGET, workers: int = 1,
                 channels: int = ACTIVATION_CHANNELS) -> None:
        self.backend, self.radius, self.size, self.memory_budget = backend, radius, size, memory_budget
        self.channels = channels
        self.device = backend.device
        self.tile = checked_tile(tile, radius)
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vsr-infer") if workers > 1 else None
        self._slots = threading.BoundedSemaphore(self.workers)  # batches computing at once
        self._slot_count = self.workers
        self.in_flight = self.workers
        self._allotments: dict[tuple, Allotment] = {}

    def _allot(self, frames: list[YuvFrame]) -> Allotment:
        """The budget's share for batches like this one (and ``in_flight`` set from it)."""
        f0 = frames[0]
        key = (len(frames), f0.width, f0.height, f0.log2_chroma, f0.gray)
        got = self._allotments.get(key)
        if got is None:
            share = 0.0 if f0.gray else 2 / (1 << sum(f0.log2_chroma))
            planes = plane_bytes(len(frames), (f0.width, f0.height), self.output_size(f0), share)
            got = self._allotments[key] = allot(self.memory_budget, self.workers, planes)
            if got.in_flight < self.workers:
                log.info("frames %dx%d: %d batch(es) in flight of %d workers, within the %d MiB budget",
                         f0.width, f0.height, got.in_flight, self.workers, self.memory_budget >> 20)
        self.in_flight = got.in_flight
        return got

    def output_size(self, frame: YuvFrame) -> tuple[int, int]:
        """Output ``(width, height)`` for a source frame."""
        return self.size or (frame.width * self.backend.scale, frame.height * self.backend.scale)

    def _planes(self, frames: list[YuvFrame]) -> list[Any]:
        """Per plane, the batch's ``(N, h, w)`` code values where the backend reads them."""
        return [np.stack([f.planes[i] for f in frames]) for i in range(len(frames[0].planes))]

    def _compute(self, frames: list[YuvFrame], planes: list[Any]) -> list[Any]:
        """Per plane ``(N, h, w)`` upscaled code values of the planes' dtype, where they were."""
        f0 = frames[0]
        maxv = float(f0.max_value)
        out_w, out_h = self.output_size(f0)
        y = arrays.contiguous(arrays.normalise(planes[0][:, None], maxv, self.backend.dtype))
        tile = choose_tile(self.backend, len(frames), f0.height, f0.width, self.radius, self.tile,
                           self._allot(frames).activations, self.channels)
        sy = run_tiled(self.backend, y, tile, self.radius)
        del y
        if sy.shape[-2:] != (out_h, out_w):
            sy = resize(arrays.to_float32(sy), out_h, out_w)
        out = [arrays.quantise(sy[:, 0], maxv, planes[0].dtype, in_place=True)]  # sy is ours: no float copy
        del sy
        if not f0.gray:
            ch, cw = f0.chroma_size(out_w, out_h)
            lw, lh = f0.log2_chroma
            uv = arrays.normalise(arrays.stack(planes[1:], 1), maxv)  # (N, 2, h, w) float32
            oy = chroma_offset(uv.shape[-2], ch, lh, sited_left=False)
            ox = chroma_offset(uv.shape[-1], cw, lw, sited_left=True)
            uv = resize(uv, ch, cw, oy, ox)
            out += [arrays.quantise(uv[:, i], maxv, planes[1 + i].dtype, in_place=True) for i in range(2)]
        return out

    def _compute_in_slot(self, frames: list[YuvFrame], planes: list[Any]) -> list[Any]:
        with self._slots:  # at most ``in_flight`` batches hold their planes and tiles at once
            return self._compute(frames, planes)

    def submit(self, frames: list[YuvFrame]) -> Pending:
        """Start upscaling a batch of same-size frames (in a worker thread when there are several)."""
        if self._pool is not None:
            allotment = self._allot(frames)
            if self._slot_count != allotment.in_flight:  # a new frame size (once per video, in practice)
                self._slots, self._slot_count = threading.BoundedSemaphore(allotment.in_flight), allotment.in_flight
            return Pending(frames, self._pool.submit(self._compute_in_slot, frames, self._planes(frames)))
        return Pending(frames, self._compute(frames, self._planes(frames)))

    def _host_planes(self, pending: Pending) -> list[np.ndarray]:
        planes = pending.planes.result() if isinstance(pending.planes, Future) else pending.planes
        return [arrays.to_numpy(p) for p in planes]

    def collect(self, pending: Pending) -> list[YuvFrame]:
        """Wait for a submitted batch and return its upscaled frames (host planes)."""
        planes = self._host_planes(pending)
        return [f.with_planes(tuple(p[i] for p in planes)) for i, f in enumerate(pending.frames)]

    def upscale(self, frames: list[YuvFrame]) -> list[YuvFrame]:
        """Upscale a batch synchronously."""
        return self.collect(self.submit(frames))

    def close(self) -> None:
        """Stop the worker threads (the backend stays open: it belongs to the caller)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
