"""The upscale stage on torch tensors: the steps of :class:`vsr.upscale.host.HostUpscaler`,
on the device of a backend that takes tensors (PyTorch, TensorRT).

On CUDA, host planes go up through pinned memory on an upload stream, compute runs on
a compute stream and results come down into pinned memory on a download stream;
events order the three, so batch n+1's upload and batch n-1's download overlap batch
n's compute. On the CPU the same steps run without copies (in worker threads).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from vsr.frames import YuvFrame
from vsr.upscale.host import HostUpscaler, Pending
from vsr.upscale.budget import DEFAULT_BUDGET, Allotment
from vsr.upscale.plan import ACTIVATION_CHANNELS

__all__ = ["DeviceUpscaler"]

log = logging.getLogger(__name__)

_TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.int16): torch.int16}


class DeviceUpscaler(HostUpscaler):
    """:class:`vsr.upscale.host.HostUpscaler` for a backend whose ``run`` takes torch tensors.

    Args:
        backend: runs the network; its ``device`` decides where everything happens.
        radius, tile, size, memory_budget, channels: as for :class:`HostUpscaler`.
        workers: on the CPU, batches computed at once in worker threads. On CUDA one batch
            computes while the next one's copies run.
    """

    def __init__(self, backend, radius: int, tile: int = 0, size: tuple[int, int] | None = None,
                 memory_budget: int = DEFAULT_BUDGET, workers: int = 1,
                 channels: int = ACTIVATION_CHANNELS) -> None:
        self.cuda = torch.device(backend.device).type == "cuda"
        super().__init__(backend, radius, tile, size, memory_budget, 1 if self.cuda else workers, channels)
        if self.cuda:
            self.in_flight = 2  # batch n+1 uploads and n-1 downloads while n computes
            # uploads, compute and downloads each on their own stream, ordered by events, so the
            # upload of batch n+1 and the download of batch n-1 overlap the compute of batch n
            self.upload_stream = torch.cuda.Stream(self.device)
            self.compute_stream = torch.cuda.Stream(self.device)
            self.download_stream = torch.cuda.Stream(self.device)

    def _planes(self, frames: list[YuvFrame]) -> list[torch.Tensor]:
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

    def _allot(self, frames: list[YuvFrame]) -> Allotment:
        got = super()._allot(frames)
        if self.cuda:  # one batch computes at a time on the compute stream; two more copy
            self.in_flight = 2
        return got

    def _compute(self, frames: list[YuvFrame], planes: list[Any]) -> list[Any]:
        with torch.inference_mode():
            return super()._compute(frames, planes)

    def submit(self, frames: list[YuvFrame]) -> Pending:
        """Start upscaling a batch of same-size frames; on CUDA this returns before the GPU is done."""
        if not self.cuda:
            return super().submit(frames)
        with torch.cuda.device(self.device):  # the calling thread's current GPU may be another one
            return self._submit_cuda(frames)

    def _submit_cuda(self, frames: list[YuvFrame]) -> Pending:
        with torch.cuda.stream(self.upload_stream):
            planes = self._planes(frames)
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
        return Pending(frames, host, done)

    def collect(self, pending: Pending) -> list[YuvFrame]:
        """Wait for a submitted batch and return its upscaled frames (host planes)."""
        if not self.cuda:
            return super().collect(pending)
        pending.done.synchronize()
        planes = self._host_planes(pending)  # pinned buffers, reused by the allocator: copied out
        return [f.with_planes(tuple(p[i].copy() for p in planes)) for i, f in enumerate(pending.frames)]
