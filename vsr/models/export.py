"""ONNX export of the networks, for ONNX Runtime, TensorRT and ``vsr export``."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = ["inference_form", "export_onnx", "ResidualGraph"]


def inference_form(model: nn.Module) -> nn.Module:
    """The fastest exactly-equivalent form of a model (FSRCNN: sub-pixel instead of deconvolution)."""
    to_subpixel = getattr(model, "to_subpixel", None)
    return to_subpixel() if to_subpixel else model


class ResidualGraph(nn.Module):
    """The network without its last add and shuffle: ``(N, 1, H, W)`` -> ``(N, r*r, H, W)``,
    for runtimes that compute in reduced precision (OpenVINO bf16) while the caller adds
    the input back in float32 (``out = pixel_shuffle(residual + y)``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = inference_form(model)
        self.scale = model.scale

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.model.residual(y)


def export_onnx(
    model: nn.Module, path: Path | None = None, *, fp16: bool = False, opset: int = 17, subpixel: bool = True,
    residual: bool = False,
) -> bytes:
    """Export to ONNX with dynamic batch, height and width.

    The graph has input ``y`` ``(N, 1, H, W)`` and output ``out`` ``(N, 1, rH, rW)``,
    float16 when ``fp16`` (weights and activations in FP16 inside the graph, as strongly
    typed TensorRT needs), else float32.

    Args:
        model: a network in eval mode (float32, any device; it is not modified).
        path: also write the bytes there when given.
        fp16: make the whole graph FP16.
        opset: ONNX opset.
        subpixel: export FSRCNN's transposed convolution as its sub-pixel rewrite
            (:func:`inference_form`); False keeps the ConvTranspose, which ONNX Runtime's
            CPU kernels run faster (see docs/performance.md).
        residual: export :class:`ResidualGraph` (output ``(N, r*r, H, W)``, sub-pixel form).

    Returns:
        The serialised ONNX model.
    """
    import copy

    m = copy.deepcopy(model).cpu().eval()
    m = ResidualGraph(m) if residual else inference_form(m) if subpixel else m
    dtype = torch.float16 if fp16 else torch.float32
    m = m.to(dtype)
    x = torch.rand(1, 1, 32, 32, dtype=dtype)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m, (x,), buf, dynamo=False, opset_version=opset, input_names=["y"], output_names=["out"],
            dynamic_axes={"y": {0: "n", 2: "h", 3: "w"},
                          "out": {0: "n", 2: "h", 3: "w"} if residual else {0: "n", 2: "sh", 3: "sw"}},
        )
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
