"""Super-resolution networks: registry, architectures and shipped weights.

Each architecture is declared here by one line: its name, its module and its contract
(:class:`~vsr.models.registry.ModelCard`: scales, inference forms, widest activation, backend
preferences). A module (and PyTorch) is imported only when a network is built, so listing
models or running the shipped ONNX graphs needs neither.
"""

from vsr.config import ModelConfig
from vsr.models.registry import (ModelCard, all_scales, build_model, declare_model, list_architectures, model_card,
                                 register_model)

__all__ = ["ModelCard", "SCALES", "all_scales", "build_model", "declare_model", "list_architectures", "model_card",
           "register_model", "DEFAULT_MODEL"]

DEFAULT_MODEL = ModelConfig().name  # --model's default

# ESPCN in f32 runs faster on ONNX Runtime than on OpenVINO (53 vs 42 ms per 480x360 frame on an
# AMD Zen 4, docs/performance.md): where OpenVINO would compute in f32 it ranks below ONNX Runtime
declare_model("espcn", "vsr.models.espcn", scales=(2, 3, 4), widest=64, backend_ranks={"openvino:f32": 15},
              summary="ESPCN (Shi et al. 2016): three convolutions and a sub-pixel shuffle; the fastest")
declare_model("fsrcnn", "vsr.models.fsrcnn", scales=(2, 3, 4), widest=56,
              summary="FSRCNN (Dong et al. 2016): eight layers; sharper, about 3x the work")

SCALES = all_scales()  # every scale of the architectures above
