"""PyTorch on the CPU or a CUDA GPU (FP16, channels-last, cuDNN autotuning on CUDA)."""

from __future__ import annotations

import copy
import logging
import threading
from typing import TYPE_CHECKING

import torch

from vsr.backends.base import TensorBackend
from vsr.backends.loaders import load_module
from vsr.devices import cuda_unavailable, parse_device
from vsr.models.export import inference_form

if TYPE_CHECKING:
    from torch import nn

    from vsr.config import BackendConfig
    from vsr.models.weights import ModelSpec

__all__ = ["TorchBackend"]

log = logging.getLogger(__name__)

_CAPTURE_LOCK = threading.Lock()


def unavailable(device: str) -> str | None:
    return None if parse_device(device)[0] == "cpu" else cuda_unavailable(device)


def precision_note(device: str, model: str, bf16: bool) -> tuple[str, str]:
    """``(precision, why)`` for ``vsr info``: FP16 on a GPU, FP32 on the CPU."""
    if parse_device(device)[0] == "cuda":
        return "fp16", "half precision on the GPU"
    return "f32", "torch runs the f32 graph on a CPU"


class TorchBackend(TensorBackend):
    """Eager PyTorch inference.

    On CUDA the network runs in FP16, channels-last, with ``cudnn.benchmark``, and
    optionally as CUDA graphs (one captured per input shape: frames of a video, and
    its tiles, come in a few fixed shapes); on the CPU in FP32.

    Args:
        model: float32 network in eval mode (copied, not modified).
        device: ``cpu`` or ``cuda[:N]``.
        threads: CPU threads for intra-op parallelism (0: PyTorch's default).
        cuda_graphs: replay captured CUDA graphs instead of launching kernels one by one.
    """

    name = "torch"
    max_graphs = 8  # distinct input shapes kept captured

    def __init__(self, model: "nn.Module", device: str = "cpu", threads: int = 0, cuda_graphs: bool = False) -> None:
        self.device = torch.device(device)
        self.scale = model.scale
        cuda = self.device.type == "cuda"
        self.dtype = torch.float16 if cuda else torch.float32
        if threads and not cuda:
            torch.set_num_threads(threads)
        if cuda:
            torch.backends.cudnn.benchmark = True
        m = inference_form(copy.deepcopy(model)).to(self.device, self.dtype).eval()
        self._model = m.to(memory_format=torch.channels_last) if cuda else m
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}
        self.cuda_graphs = cuda_graphs and cuda
        # a forward pass under inference_mode changes no state; replayed graphs share static buffers
        self.thread_safe = not self.cuda_graphs
        self._owner = True  # False for a fork(), which shares the model

    @torch.inference_mode()
    def run(self, y: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` ``self.dtype`` on ``self.device`` in [0, 1] -> ``(N, 1, sH, sW)``, same dtype/device."""
        if self.device.type == "cuda":
            y = y.contiguous(memory_format=torch.channels_last)
            if self.cuda_graphs:
                return self._replay(y)
        return self._model(y).contiguous()

    def _replay(self, y: torch.Tensor) -> torch.Tensor:
        """Run through a CUDA graph captured for ``y``'s shape, on the current stream."""
        entry = self._graphs.get(tuple(y.shape))
        if entry is None:
            with _CAPTURE_LOCK:  # PyTorch allows one graph capture at a time per process
                entry = self._capture(y)
        graph, static_in, static_out = entry
        static_in.copy_(y)
        graph.replay()
        return static_out.clone()

    def _capture(self, y: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        """Capture the network for ``y``'s shape: warm-up on a side stream (cuDNN picks its
        algorithms outside the capture), then capture on that stream, on our device."""
        if len(self._graphs) >= self.max_graphs:
            self._graphs.pop(next(iter(self._graphs)))
        static_in = y.clone(memory_format=torch.channels_last)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self._model(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread-local capture lets other threads (an NVDEC decoder, other jobs) keep using CUDA
        with torch.cuda.device(self.device), torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
            static_out = self._model(static_in).contiguous()
        entry = self._graphs[tuple(y.shape)] = (graph, static_in, static_out)
        return entry

    def fork(self) -> "TorchBackend":
        """The backend for one more concurrent job: itself, unless it replays CUDA graphs,
        whose static buffers one job at a time may use; then a twin over the same weights
        with graphs of its own. Closing a twin releases only its graphs."""
        if not self.cuda_graphs:
            return self
        twin = copy.copy(self)
        twin._graphs = {}
        twin._owner = False
        return twin

    def close(self) -> None:
        self._graphs.clear()
        if not self._owner:
            return
        self._model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def create(model: "nn.Module | None", spec: "ModelSpec", config: "BackendConfig") -> TorchBackend:
    model = load_module(spec, model)
    cuda_graphs = config.option("cuda_graphs")
    if cuda_graphs and parse_device(config.device)[0] != "cuda":
        log.warning("--cuda-graphs applies to the torch backend on a GPU; ignored with torch on %s", config.device)
    return TorchBackend(model, config.device, config.threads, cuda_graphs)
