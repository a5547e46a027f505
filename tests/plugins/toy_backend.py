"""A backend for a new device kind as a plug-in: ``--device toy`` (or ``toy:N``).

It stands for an accelerator vsr has no code for: it takes host arrays and runs the model's
``direct`` ONNX graph (from the shared loader) with ONNX Runtime, as a vendor runtime would
run it on its device. Everything else (tiling, chroma, batching, CLI, registry) is vsr's.
"""

from __future__ import annotations

import numpy as np

from vsr.backends.host import HostBackend
from vsr.backends.loaders import load_graph
from vsr.devices import parse_device

__all__ = ["ToyBackend"]


def unavailable(device: str) -> str | None:
    return None if parse_device(device)[0] == "toy" else "the toy backend runs on --device toy only"


class ToyBackend(HostBackend):
    """Runs an ONNX graph ``(N, 1, H, W)`` -> ``(N, 1, rH, rW)`` float32 on toy device ``index``."""

    name = "toy"

    def __init__(self, graph: bytes, scale: int, index: int) -> None:
        import onnxruntime as ort

        self.scale, self.device, self.calls = scale, f"toy:{index}", 0
        self._session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])

    def run(self, y: np.ndarray) -> np.ndarray:
        self.calls += 1
        (out,) = self._session.run(None, {"y": np.ascontiguousarray(y, dtype=np.float32)})
        return out


def create(model, spec, config) -> ToyBackend:
    return ToyBackend(load_graph(spec, "direct", model), spec.scale, parse_device(config.device)[1])
