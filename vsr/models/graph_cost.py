"""Compute cost of a shipped ONNX graph, counted without PyTorch (``vsr models`` on a machine
without it): the same count as :func:`vsr.models.flops.flops_per_pixel`, from the graph's
convolutions and the shapes ONNX infers for a probe input."""

from __future__ import annotations

import math

__all__ = ["graph_flops_per_pixel"]


def graph_flops_per_pixel(graph: bytes, size: int = 16) -> float:
    """FLOPs (2 x multiply-accumulates) of the ``Conv`` and ``ConvTranspose`` nodes per input pixel.

    A convolution costs its weight's size per output pixel; a transposed convolution its
    weight's size per input pixel (every input element times the whole kernel, the taps its
    padding crops included), as :mod:`vsr.models.flops` charges them.

    Args:
        graph: an ONNX model taking ``(N, 1, H, W)`` luma with its weights as initializers.
        size: side of the square probe input; the count per pixel does not depend on it.
    """
    import onnx
    from onnx import shape_inference

    model = onnx.load_from_string(graph)
    for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, (1, 1, size, size)):
        dim.Clear()
        dim.dim_value = value
    model = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*model.graph.input, *model.graph.value_info, *model.graph.output)}
    weights = {w.name: math.prod(w.dims) for w in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            macs += math.prod(shapes[node.output[0]][2:]) * weights[node.input[1]]
        elif node.op_type == "ConvTranspose":
            macs += math.prod(shapes[node.input[0]][2:]) * weights[node.input[1]]
    return 2.0 * macs / (size * size)
