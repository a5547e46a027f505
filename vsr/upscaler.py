"""Upscale YuvFrames: luma through the backend (tiled if needed), chroma bicubic, both re-quantised.

On CUDA, host planes go up through pinned memory on an upload stream, compute runs on
a compute stream and results come down into pinned memory on a download stream;
events order the three, so batch n+1's upload and batch n-1's download overlap batch
n's compute. On the CPU the same steps run without copies (in worker threads).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from vsr.backends.base import Backend
from vsr.frames import YuvFrame
from vsr.models.receptive import receptive_radius  # noqa: F401  (re-exported: the tile overlap)
from vsr.resample import chroma_offset, resize

__all__ = ["Upscaler", "choose_tile", "receptive_radius", "run_tiled"]


log = logging.getLogger(__name__)

_TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.int16): torch.int16}
_ACTIVATION_CHANNELS = 64  # widest layer of the shipped networks (ESPCN 64, FSRCNN 56)
_LIVE_ACTIVATIONS = 3  # feature maps alive at once in a runtime, roughly


def run_tiled(backend: Backend, y: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """Run ``backend`` on ``(N, 1, H, W)`` luma in tiles of at most ``tile`` pixels per side.

    Each tile is cropped with ``overlap`` pixels of real context on every inner side
    (at least the network's receptive radius), so the stitched output equals the
    untiled output.
    """
    n, _, h, w = y.shape
    s = backend.scale
    if tile <= 0 or (h <= tile and w <= tile):
        return backend.run(y)
    step = max(1, tile - 2 * overlap)
    out = torch.empty((n, 1, h * s, w * s), dtype=y.dtype, device=y.device)
    for top in range(0, h, step):
        for left in range(0, w, step):
            bottom, right = min(top + step, h), min(left + step, w)
            t0, l0 = max(0, top - overlap), max(0, left - overlap)
            t1, l1 = min(h, bottom + overlap), min(w, right + overlap)
            part = backend.run(y[:, :, t0:t1, l0:l1].contiguous())
            out[:, :, top * s : bottom * s, left * s : right * s] = part[
                :, :, (top - t0) * s : (bottom - t0) * s, (left - l0) * s : (right - l0) * s
            ]
    return out


def _least_tile(radius: int) -> int:
    """The smallest useful tile: each one adds at least 8 new pixels per side to the output."""
    return 2 * radius + 8


def choose_tile(backend: Backend, n: int, h: int, w: int, radius: int, tile: int = 0,
                memory_budget: int = 2 << 30) -> int:
    """The tile size for a ``(n, 1, h, w)`` call: ``tile`` if given, else one that fits the
    backend's ``max_size`` (TensorRT engines) and ``memory_budget`` bytes of activations;
    0 for no tiling."""
    if tile:
        return max(tile, _least_tile(radius))
    max_size = backend.max_size
    if max_size is not None and (w > max_size[0] or h > max_size[1]):
        tile = min(max_size)
        log.info("frame %dx%d exceeds the engine's %dx%d: tiling at %d", w, h, max_size[0], max_size[1], tile)
    itemsize = torch.finfo(backend.dtype).bits // 8
    per_pixel = n * _ACTIVATION_CHANNELS * _LIVE_ACTIVATIONS * itemsize
    if h * w * per_pixel > memory_budget:
        fit = int((memory_budget / per_pixel) ** 0.5)
        tile = min(tile or fit, fit)
        log.info("frame %dx%d x%d needs more than %d MiB of activations: tiling at %d", w, h, n,
                 memory_budget >> 20, tile)
    return max(tile, 4 * radius + 16) if tile else 0


@dataclass
class _Pending:
    frames: list[YuvFrame]
    planes: list[torch.Tensor] | Future  # per plane: (N, h, w) integers (pinned host on CUDA)
    done: torch.cuda.Event | None


class Upscaler:
    """Turns batches of source YuvFrames into upscaled YuvFrames.

    Args:
        backend: runs the network; its ``device`` decides where everything happens.
        radius: receptive radius of the network (see :func:`receptive_radius`).
        tile: tile size in input pixels (0: whole frames, unless the backend's
            ``max_size`` forces tiling).
        size: output ``(width, height)``; None for exactly ``scale`` times the input.
            A size other than the network's output is reached by a bicubic resize.
        memory_budget: bytes of network activations allowed per backend call; larger
            frames are tiled automatically (e.g. 4K input on the CPU).
        workers: on the CPU, batches computed at once in worker threads (frame-level
            parallelism; the backend must be thread-safe, as ONNX Runtime and PyTorch are).
            On CUDA one batch computes while the next one's copies run.

    Attributes:
        in_flight: how many batches a caller should keep submitted before collecting.
    """

    def __init__(self, backend: Backend, radius: int, tile: int = 0, size: tuple[int, int] | None = None,
                 memory_budget: int = 2 << 30, workers: int = 1) -> None:
        self.memory_budget = memory_budget
        self.backend = backend
        self.device = backend.device
        self.cuda = self.device.type == "cuda"
        self.radius = radius
        if 0 < tile < _least_tile(radius):
            log.warning("--tile %d is smaller than the %d pixels of context a tile needs on each side; using %d",
                        tile, radius, _least_tile(radius))
            tile = _least_tile(radius)
        self.tile = tile
        self.size = size
        self._pool = None
        self.in_flight = 1
        if self.cuda:
            self.in_flight = 2  # batch n+1 uploads and n-1 downloads while n computes
            # uploads, compute and downloads each on their own stream, ordered by events, so the
            # upload of batch n+1 and the download of batch n-1 overlap the compute of batch n
            self.upload_stream = torch.cuda.Stream(self.device)
            self.compute_stream = torch.cuda.Stream(self.device)
            self.download_stream = torch.cuda.Stream(self.device)
        elif workers > 1:
            self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vsr-infer")
            self.in_flight = workers

    def _tile_for(self, n: int, h: int, w: int) -> int:
        return choose_tile(self.backend, n, h, w, self.radius, self.tile, self.memory_budget)

    def output_size(self, frame: YuvFrame) -> tuple[int, int]:
        """Output ``(width, height)`` for a source frame."""
        return self.size or (frame.width * self.backend.scale, frame.height * self.backend.scale)

    # -- the three steps -----------------------------------------------------------------------
    def _to_device(self, frames: list[YuvFrame]) -> list[torch.Tensor]:
        """Per plane, ``(N, h, w)`` uint8 or int16 (10/12-bit codes, which fit) on the device.

        On CUDA the frames are stacked straight into pinned memory (PyTorch's caching host
        allocator reuses it once the copy that reads it has run) and copied up without
        blocking, on the current (upload) stream.
        """
        planes = []
        for i in range(len(frames[0].planes)):
            first = frames[0].planes[i]
            dtype = np.dtype(np.int16) if first.dtype == np.uint16 else first.dtype
            shape = (len(frames), *first.shape)
            if self.cuda:
                host = torch.empty(shape, dtype=_TORCH_DTYPES[dtype], pin_memory=True)
                np.stack([f.planes[i].view(dtype) for f in frames], out=host.numpy())
                planes.append(host.to(self.device, non_blocking=True))
            else:
                planes.append(torch.from_numpy(np.stack([f.planes[i].view(dtype) for f in frames])))
        return planes

    @torch.inference_mode()
    def _compute(self, frames: list[YuvFrame], planes: list[torch.Tensor]) -> list[torch.Tensor]:
        f0 = frames[0]
        maxv = float(f0.max_value)
        out_w, out_h = self.output_size(f0)
        dtype = self.backend.dtype
        y = (planes[0][:, None].to(dtype) / maxv).contiguous()
        sy = run_tiled(self.backend, y, self._tile_for(len(frames), f0.height, f0.width), self.radius)
        if sy.shape[-2:] != (out_h, out_w):
            sy = resize(sy.float(), out_h, out_w)
        out = [_quantise(sy[:, 0], maxv, planes[0].dtype)]
        if not f0.gray:
            ch, cw = f0.chroma_size(out_w, out_h)
            lw, lh = f0.log2_chroma
            uv = torch.stack(planes[1:], 1).float() / maxv  # (N, 2, h, w)
            oy = chroma_offset(uv.shape[-2], ch, lh, sited_left=False)
            ox = chroma_offset(uv.shape[-1], cw, lw, sited_left=True)
            uv = resize(uv, ch, cw, oy, ox)
            out += [_quantise(uv[:, 0], maxv, planes[1].dtype), _quantise(uv[:, 1], maxv, planes[2].dtype)]
        return out

    def submit(self, frames: list[YuvFrame]) -> _Pending:
        """Start upscaling a batch of same-size frames; on CUDA this returns before the GPU is done."""
        if not self.cuda:
            if self._pool is not None:
                return _Pending(frames, self._pool.submit(self._compute, frames, self._to_device(frames)), None)
            return _Pending(frames, self._compute(frames, self._to_device(frames)), None)
        with torch.cuda.device(self.device):  # the calling thread's current GPU may be another one
            return self._submit_cuda(frames)

    def _submit_cuda(self, frames: list[YuvFrame]) -> _Pending:
        with torch.cuda.stream(self.upload_stream):
            planes = self._to_device(frames)
            copied = torch.cuda.Event()
            copied.record(self.upload_stream)
        self.compute_stream.wait_event(copied)
        with torch.cuda.stream(self.compute_stream):
            for p in planes:
                p.record_stream(self.compute_stream)
            out = self._compute(frames, planes)
            computed = torch.cuda.Event()
            computed.record(self.compute_stream)
        self.download_stream.wait_event(computed)
        with torch.cuda.stream(self.download_stream):
            host = []
            for p in out:
                p.record_stream(self.download_stream)
                h = torch.empty(p.shape, dtype=p.dtype, pin_memory=True)
                h.copy_(p, non_blocking=True)
                host.append(h)
            done = torch.cuda.Event(blocking=True)  # collect() sleeps on it, leaving the CPU to the codecs
            done.record(self.download_stream)
        return _Pending(frames, host, done)

    def collect(self, pending: _Pending) -> list[YuvFrame]:
        """Wait for a submitted batch and return its upscaled frames (host planes)."""
        if pending.done is not None:
            pending.done.synchronize()
        planes = pending.planes.result() if isinstance(pending.planes, Future) else pending.planes
        arrays = [p.numpy() for p in planes]
        arrays = [a.view(np.uint16) if a.dtype == np.int16 else a for a in arrays]
        return [f.with_planes(tuple(a[i].copy() if self.cuda else a[i] for a in arrays))
                for i, f in enumerate(pending.frames)]

    def upscale(self, frames: list[YuvFrame]) -> list[YuvFrame]:
        """Upscale a batch synchronously."""
        return self.collect(self.submit(frames))

    def close(self) -> None:
        """Stop the worker threads (the backend stays open: it belongs to the caller)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _quantise(x: torch.Tensor, maxv: float, dtype: torch.dtype) -> torch.Tensor:
    """[0, 1] floats -> integer code values ``round(x * maxv)`` clamped to ``[0, maxv]``."""
    return (x.float() * maxv).round_().clamp_(0, maxv).to(dtype)
