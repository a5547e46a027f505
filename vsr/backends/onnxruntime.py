"""ONNX Runtime on the CPU, on host (NumPy) arrays: nothing to build, no PyTorch needed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vsr.backends.host import HostBackend
from vsr.backends.loaders import load_graph
from vsr.devices import parse_device

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


def precision_note(device: str, model: str, bf16: bool) -> tuple[str, str]:
    """``(precision, why)`` for ``vsr info``: the FP32 graph."""
    return "f32", "onnxruntime runs the f32 graph on a CPU"


class OnnxRuntimeBackend(HostBackend):
    """Runs the exported FP32 graph with ONNX Runtime's CPU execution provider.

    Args:
        graph: the ONNX graph (``y`` ``(N, 1, H, W)`` -> ``out`` ``(N, 1, rH, rW)``, float32).
        scale: its upscaling factor r.
        threads: intra-op threads (0: ONNX Runtime's default, one per core).
    """

    name = "onnxruntime"
    thread_safe = True  # InferenceSession.run is documented thread-safe

    def __init__(self, graph: bytes, scale: int, threads: int = 0) -> None:
        import onnxruntime as ort

        self.scale = scale
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # no busy-waiting between operators: the decoder and encoder threads need those cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    def run(self, y: np.ndarray) -> np.ndarray:
        """``(N, 1, H, W)`` float32 in [0, 1] -> ``(N, 1, sH, sW)`` float32 (NumPy, host)."""
        (out,) = self._session.run(None, {"y": np.ascontiguousarray(y, dtype=np.float32)})
        return out

    def fork(self) -> "OnnxRuntimeBackend":
        return self

    def close(self) -> None:
        self._session = None


def create(model: "nn.Module | None", spec: "ModelSpec", config: "BackendConfig") -> OnnxRuntimeBackend:
    """From the shipped ``direct`` graph (FSRCNN keeps its ConvTranspose there: ONNX Runtime's
    CPU kernels run it 1.2-1.4x faster than the sub-pixel rewrite; docs/performance.md), or a
    graph exported from ``model`` when none is shipped."""
    graph = load_graph(spec, "direct", model)
    return OnnxRuntimeBackend(graph, spec.scale if spec is not None else model.scale, config.threads)
