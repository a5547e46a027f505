"""FSRCNN (Dong et al. 2016), d=56, s=12, m=4, with its exact sub-pixel rewrite."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vsr.models.registry import register_model

__all__ = ["FSRCNN", "subpixel_from_deconv"]

D, S, M, K = 56, 12, 4, 9  # feature, shrink, mapping layers, deconvolution kernel


def _conv_prelu(cin: int, cout: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.PReLU(cout)]


class FSRCNN(nn.Module):
    """Fast SR CNN on one luma channel.

    conv 5x5 -> 56, shrink 1x1 -> 12, four 3x3 mapping layers, expand 1x1 -> 56
    (PReLU after each), then a 9x9 transposed convolution with stride r. The
    output is a residual over nearest-neighbour upsampling of the input (one
    add; it makes training converge much faster).

    After :meth:`to_subpixel` the transposed convolution is replaced by the
    mathematically identical convolution to r^2 channels plus pixel shuffle.

    Args:
        scale: upscaling factor r.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        layers = _conv_prelu(1, D, 5) + _conv_prelu(D, S, 1)
        for _ in range(M):
            layers += _conv_prelu(S, S, 3)
        layers += _conv_prelu(S, D, 1)
        self.body = nn.Sequential(*layers)
        self.deconv: nn.Module = nn.ConvTranspose2d(
            D, 1, K, stride=scale, padding=K // 2, output_padding=scale - 1
        )
        nn.init.normal_(self.deconv.weight, std=1e-3)
        nn.init.zeros_(self.deconv.bias)
        self.subpixel = False

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Upscale luma.

        Args:
            y: ``(N, 1, H, W)`` float luma in [0, 1], any device.

        Returns:
            ``(N, 1, rH, rW)`` float luma, same dtype and device (not clamped).
        """
        if self.subpixel:
            return F.pixel_shuffle(self.residual(y) + y, self.scale)
        return self.deconv(self.body(y)) + F.interpolate(y, scale_factor=self.scale, mode="nearest")

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        """What the network adds to each sub-pixel, in the sub-pixel form only:
        ``(N, 1, H, W)`` -> ``(N, r*r, H, W)`` (``forward`` is ``pixel_shuffle(residual(y) + y)``)."""
        if not self.subpixel:
            raise ValueError("residual() needs the sub-pixel form: call to_subpixel() first")
        return self.deconv(self.body(y))

    @torch.no_grad()
    def to_subpixel(self) -> "FSRCNN":
        """Replace the transposed convolution by conv-to-r^2 + pixel shuffle, in place.

        Output phase (a, b) of the transposed convolution at low-res position i reads
        input i - d with tap k = r*d + a + pad, so each phase is an ordinary
        convolution whose kernel gathers every r-th tap. Exact up to float rounding.
        """
        if not self.subpixel:
            self.deconv = subpixel_from_deconv(self.deconv, self.scale)
            self.subpixel = True
        return self


def subpixel_from_deconv(deconv: nn.ConvTranspose2d, r: int) -> nn.Conv2d:
    """The convolution whose pixel-shuffled output equals ``deconv``'s output.

    Args:
        deconv: transposed convolution, C_in -> 1 channel, square kernel k,
            stride r, padding p, output_padding r-1 (output exactly r times the input).
        r: its stride.

    Returns:
        A ``Conv2d(C_in, r*r, kc, padding=kc//2)`` on the same device and dtype.
    """
    w = deconv.weight  # (C_in, 1, k, k)
    cin, k, pad = w.shape[0], w.shape[-1], deconv.padding[0]
    # displacement d = (tap - a - pad) / r over all phases a and taps
    reach = max(abs((t - a - pad) // r) for a in range(r) for t in range(k) if (t - a - pad) % r == 0)
    kc = 2 * reach + 1
    conv = nn.Conv2d(cin, r * r, kc, padding=reach).to(w.device, w.dtype)
    conv.weight.zero_()
    for a in range(r):
        for b in range(r):
            for ty in range(k):
                dy, my = divmod(ty - a - pad, r)
                if my:
                    continue
                for tx in range(k):
                    dx, mx = divmod(tx - b - pad, r)
                    if mx:
                        continue
                    conv.weight[a * r + b, :, reach - dy, reach - dx] = w[:, 0, ty, tx]
    conv.bias.copy_(deconv.bias.expand(r * r))
    return conv


@register_model("fsrcnn")
def fsrcnn(scale: int) -> FSRCNN:
    return FSRCNN(scale)
