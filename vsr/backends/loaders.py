"""Loaders: what a backend's runner is made from, for a model spec, shared by every ``create()``.

A loader finds or makes the artefact (the trained module, the ONNX graph of one inference
form); the runner (the backend class) only runs it. TensorRT's engine build-or-load from the
cache is :class:`vsr.backends.tensorrt.EngineLoader`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from vsr.models.weights import ModelSpec

__all__ = ["load_module", "load_graph", "FORMS"]

# inference form -> export_onnx arguments: ``direct`` keeps the architecture's own layers
# (FSRCNN's ConvTranspose), ``residual`` stops before the last add (OpenVINO adds in float32)
FORMS = {"direct": {"subpixel": False}, "residual": {"residual": True}}


def load_module(spec: "ModelSpec | None", model: "nn.Module | None" = None) -> "nn.Module":
    """The float32 PyTorch network: ``model`` when given, else created from ``spec``'s weights."""
    if model is not None:
        return model
    from vsr.models.weights import create_model

    return create_model(spec.name, spec.scale, spec.weights)


def load_graph(spec: "ModelSpec | None", form: str, model: "nn.Module | None" = None) -> bytes:
    """The ONNX graph of ``form`` (a key of :data:`FORMS`): the shipped one, checksum verified,
    or one exported from the weights (``model``, or ``spec``'s) when none is shipped.

    Raises:
        WeightsError: a shipped graph is missing or fails its checksum.
    """
    graph = spec.graph(form) if spec is not None else None
    if graph is not None:
        return graph
    from vsr.models.export import export_onnx

    return export_onnx(load_module(spec, model), **FORMS[form])
