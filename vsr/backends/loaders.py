"""Loaders: what a backend's runner is made from, for a model spec, shared by every ``create()``.

A loader finds or makes the artefact (the trained module, the ONNX graph of one inference
form); the runner (the backend class) only runs it. TensorRT's engine build-or-load from the
cache is :class:`vsr.backends.tensorrt.EngineLoader`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr.errors import BackendError

if TYPE_CHECKING:
    from torch import nn

    from vsr.models.weights import ModelSpec

__all__ = ["load_module", "load_graph", "EXPORT_ARGS"]

# inference form (vsr.models.registry.FORMS) -> export_onnx arguments: ``direct`` keeps the
# architecture's own layers (FSRCNN's ConvTranspose), ``residual`` stops before the last add
# (OpenVINO adds the input back in float32)
EXPORT_ARGS = {"direct": {"subpixel": False}, "residual": {"residual": True}}


def load_module(spec: "ModelSpec | None", model: "nn.Module | None" = None) -> "nn.Module":
    """The float32 PyTorch network: ``model`` when given, else created from ``spec``'s weights."""
    if model is not None:
        return model
    from vsr.models.weights import create_model

    return create_model(spec.name, spec.scale, spec.weights)


def load_graph(spec: "ModelSpec | None", form: str, model: "nn.Module | None" = None) -> bytes:
    """The ONNX graph of ``form`` (``direct`` or ``residual``): the shipped one, checksum verified,
    or one exported from the weights (``model``, or ``spec``'s) when none is shipped.

    Raises:
        BackendError: the model's card does not offer ``form``.
        WeightsError: a shipped graph is missing or fails its checksum.
    """
    if spec is not None:
        from vsr.models.registry import model_card

        if form not in model_card(spec.name).forms:
            raise BackendError(f"model {spec.name} has no {form} form (its card offers "
                               f"{', '.join(model_card(spec.name).forms)}); use another backend")
    graph = spec.graph(form) if spec is not None else None
    if graph is not None:
        return graph
    from vsr.models.export import export_onnx

    return export_onnx(load_module(spec, model), **EXPORT_ARGS[form])
