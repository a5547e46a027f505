"""The receptive radius of a network: how much context tiles need to overlap."""

from __future__ import annotations

import torch

__all__ = ["receptive_radius"]


def receptive_radius(model: torch.nn.Module) -> int:
    """Low-resolution pixels of context each output pixel depends on, per side.

    Sums ``k // 2`` over the (stride 1) convolutions of the model's inference form;
    a transposed convolution with kernel k and stride r adds ``ceil((k // 2) / r)``.
    """
    r = 0
    for m in model.modules():
        if isinstance(m, torch.nn.ConvTranspose2d):
            r += -(-(m.kernel_size[0] // 2) // m.stride[0])
        elif isinstance(m, torch.nn.Conv2d):
            r += (m.kernel_size[0] // 2) * m.dilation[0]
    return r
