"""The upscale stage: batches of YuvFrames -> upscaled YuvFrames.

Luma goes through a backend (tiled by one plan, :mod:`vsr.upscale.plan`), chroma through one
bicubic resampler that keeps its siting (:mod:`vsr.upscale.resample`, :mod:`vsr.upscale.siting`),
and both are quantised back to code values (:func:`vsr.upscale.arrays.quantise`). The steps are
written once against NumPy arrays and torch tensors alike (:mod:`vsr.upscale.arrays`);
:class:`~vsr.upscale.host.HostUpscaler` runs them for backends on host arrays without PyTorch,
:class:`~vsr.upscale.device.DeviceUpscaler` for backends on tensors, with CUDA streams.
"""

from __future__ import annotations

from vsr.upscale.host import HostUpscaler
from vsr.upscale.plan import choose_tile, run_tiled

__all__ = ["make_upscaler", "HostUpscaler", "choose_tile", "run_tiled"]


def make_upscaler(backend, radius: int, tile: int = 0, size: tuple[int, int] | None = None, **kwargs):
    """:class:`HostUpscaler` for a backend on host arrays, else the torch
    :class:`~vsr.upscale.device.DeviceUpscaler` (PyTorch is imported only then)."""
    if backend.host:
        return HostUpscaler(backend, radius, tile, size, **kwargs)
    from vsr.upscale.device import DeviceUpscaler

    return DeviceUpscaler(backend, radius, tile, size, **kwargs)
