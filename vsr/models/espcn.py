"""ESPCN (Shi et al. 2016): three convolutions and a sub-pixel shuffle."""

from __future__ import annotations

import torch
from torch import nn

from vsr.models.registry import register_model

__all__ = ["ESPCN"]


class ESPCN(nn.Module):
    """Efficient sub-pixel CNN on one luma channel.

    conv 5x5 -> 64, tanh, conv 3x3 -> 32, tanh, conv 3x3 -> r^2, pixel shuffle.
    The last convolution predicts a residual over nearest-neighbour upsampling
    (the input is added to each of the r^2 sub-pixel channels before the
    shuffle): the layer sizes are the paper's, the residual costs one add and
    makes training converge much faster.

    Args:
        scale: upscaling factor r.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.conv1 = nn.Conv2d(1, 64, 5, padding=2)
        self.conv2 = nn.Conv2d(64, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, scale * scale, 3, padding=1)
        self.act = nn.Tanh()
        self.shuffle = nn.PixelShuffle(scale)
        nn.init.zeros_(self.conv3.weight)
        nn.init.zeros_(self.conv3.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Upscale luma.

        Args:
            y: ``(N, 1, H, W)`` float luma in [0, 1], any device.

        Returns:
            ``(N, 1, rH, rW)`` float luma, same dtype and device (not clamped).
        """
        return self.shuffle(self.residual(y) + y)

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        """What the network adds to each sub-pixel: ``(N, 1, H, W)`` -> ``(N, r*r, H, W)``
        (``forward`` is ``pixel_shuffle(residual(y) + y)``)."""
        h = self.act(self.conv1(y))
        h = self.act(self.conv2(h))
        return self.conv3(h)


@register_model("espcn")
def espcn(scale: int) -> ESPCN:
    return ESPCN(scale)
