"""A third architecture as a plug-in: one 3x3 convolution to r*r sub-pixels over nearest
upsampling, with the residual form the model contract asks for."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models import register_model

__all__ = ["ToyNet"]


class ToyNet(nn.Module):
    """``(N, 1, H, W)`` luma in [0, 1] -> ``(N, 1, rH, rW)``: ``pixel_shuffle(conv3x3(y) + y)``.

    Args:
        scale: upscaling factor r.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(1, scale * scale, 3, padding=1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.residual(y) + y, self.scale)

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` -> ``(N, r*r, H, W)``: what is added to each sub-pixel."""
        return self.conv(y)


@register_model("toy")
def toy(scale: int) -> ToyNet:
    return ToyNet(scale)
