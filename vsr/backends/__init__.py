"""Inference backends: one file each, registered by explicit import."""

from vsr.backends import onnxruntime, torch  # noqa: F401  (registration)
from vsr.backends import tensorrt  # noqa: F401  (registration; imports TensorRT lazily)
from vsr.backends.base import Backend, create_backend, list_backends, register_backend, resolve_name

__all__ = ["Backend", "create_backend", "list_backends", "register_backend", "resolve_name"]
