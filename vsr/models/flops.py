"""Compute cost of a network: floating-point operations per input (low-resolution) pixel.

Counted, not estimated by hand: forward hooks on every ``Conv2d`` and
``ConvTranspose2d`` record the multiply-accumulates (MACs) of one forward pass on
a small input, and FLOPs are 2 x MACs. Biases, activations, the residual add and
the pixel shuffle are left out (they are a few operations per pixel against
thousands). A transposed convolution is charged for every input element times its
whole kernel, the work it really does, including the taps its padding crops away.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from vsr.models.export import inference_form

__all__ = ["flops_per_pixel", "macs_per_pixel"]


def _conv_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    k = module.weight[0, 0].numel()  # kernel taps (kh * kw)
    if isinstance(module, nn.ConvTranspose2d):
        # every input element is multiplied into C_out/groups output channels over the kernel
        return inp.numel() * (module.out_channels // module.groups) * k
    # every output element sums C_in/groups channels over the kernel
    return out.numel() * (module.in_channels // module.groups) * k


@torch.no_grad()
def macs_per_pixel(model: nn.Module, *, form: str = "inference", size: int = 16) -> float:
    """Multiply-accumulates of the convolution layers per input pixel.

    Args:
        model: a network taking ``(N, 1, H, W)`` luma (it is copied, not modified).
        form: ``"inference"`` (the form the backends run, see
            :func:`vsr.models.export.inference_form`) or ``"trained"`` (as built).
        size: side of the square probe input; the count per pixel does not depend on it.

    Returns:
        MACs per pixel of the input plane.

    Raises:
        ValueError: unknown ``form``.
    """
    if form not in ("inference", "trained"):
        raise ValueError(f"form must be 'inference' or 'trained', not {form!r}")
    m = copy.deepcopy(model).cpu().float().eval()
    if form == "inference":
        m = inference_form(m)
    total = 0

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += _conv_macs(module, args[0], out)

    convs = [mod for mod in m.modules() if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d))]
    handles = [mod.register_forward_hook(hook) for mod in convs]
    try:
        m(torch.zeros(1, 1, size, size))
    finally:
        for h in handles:
            h.remove()
    return total / (size * size)


def flops_per_pixel(model: nn.Module, *, form: str = "inference") -> float:
    """Floating-point operations (2 x MACs) per input pixel; see :func:`macs_per_pixel`."""
    return 2.0 * macs_per_pixel(model, form=form)
