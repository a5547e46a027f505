"""Super-resolution networks: registry, architectures and shipped weights.

Architectures are declared here by name and module; a module (and PyTorch) is imported only
when a network is built, so listing models or running the shipped ONNX graphs needs neither.
"""

from vsr.models.registry import SCALES, build_model, declare_model, list_architectures, register_model

__all__ = ["SCALES", "build_model", "declare_model", "list_architectures", "register_model"]

declare_model("espcn", "vsr.models.espcn")
declare_model("fsrcnn", "vsr.models.fsrcnn")
