"""vsr: super-resolution of videos and images with small CNNs (ESPCN, FSRCNN) on luma.

The public functions are imported lazily, on first use, so ``import vsr`` stays
light (no torch, no PyAV) and ``vsr --help`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["upscale_video", "upscale_segmented", "upscale_image", "upscale_batch", "list_models", "Progress",
           "VideoStats"]

# public name -> module that defines it; add a row to export a new function
_LAZY: dict[str, str] = {
    "upscale_video": "vsr.pipeline",
    "Progress": "vsr.pipeline",
    "VideoStats": "vsr.pipeline",
    "upscale_image": "vsr.image",
    "list_models": "vsr.models.weights",
    "upscale_batch": "vsr.batch",
    "upscale_segmented": "vsr.segments",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vsr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
