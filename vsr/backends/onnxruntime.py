"""ONNX Runtime on the CPU: the default backend, nothing to build."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vsr.devices import parse_device
from vsr.models.export import export_onnx

if TYPE_CHECKING:
    from torch import nn

    from vsr.config import BackendConfig
    from vsr.models.weights import ModelSpec

__all__ = ["OnnxRuntimeBackend"]


def unavailable(device: str) -> str | None:
    if parse_device(device)[0] != "cpu":
        return "vsr runs ONNX Runtime on the CPU only (use --backend torch or tensorrt on a GPU)"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed (pip install onnxruntime)"
    return None


class OnnxRuntimeBackend:
    """Runs the exported FP32 graph with ONNX Runtime's CPU execution provider.

    Args:
        model: float32 network in eval mode.
        threads: intra-op threads (0: ONNX Runtime's default, one per core).
        graph: the shipped ``direct`` ONNX graph of these weights (None: exported from ``model``).
    """

    name = "onnxruntime"
    device = torch.device("cpu")
    dtype = torch.float32
    thread_safe = True  # InferenceSession.run is documented thread-safe
    max_size = None
    cuda_graphs = False

    def __init__(self, model: "nn.Module", threads: int = 0, graph: bytes | None = None) -> None:
        import onnxruntime as ort

        self.scale = model.scale
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # no busy-waiting between operators: the decoder and encoder threads need those cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # FSRCNN keeps its ConvTranspose here: ONNX Runtime's CPU kernels run it 1.2-1.4x faster
        # than the sub-pixel rewrite (which PyTorch and GPUs prefer); docs/performance.md
        graph = graph or export_onnx(model, subpixel=False)
        self._session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    def run(self, y: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` float32 CPU in [0, 1] -> ``(N, 1, sH, sW)`` float32 CPU."""
        (out,) = self._session.run(None, {"y": y.numpy()})
        return torch.from_numpy(out)

    def fork(self) -> "OnnxRuntimeBackend":
        return self

    def close(self) -> None:
        self._session = None


def create(model: "nn.Module", spec: "ModelSpec", config: "BackendConfig") -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(model, config.threads, spec.graph("direct") if spec is not None else None)
