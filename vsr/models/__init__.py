"""Super-resolution networks: registry, architectures and shipped weights."""

from vsr.models import espcn, fsrcnn  # noqa: F401  (explicit imports register the models)
from vsr.models.registry import SCALES, build_model, list_architectures, register_model

__all__ = ["SCALES", "build_model", "list_architectures", "register_model"]
