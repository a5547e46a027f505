"""Chroma siting through a resize (shared by the PyTorch and the NumPy resamplers)."""

from __future__ import annotations

__all__ = ["chroma_offset"]


def chroma_offset(n_in: int, n_out: int, log2: int, sited_left: bool) -> float:
    """Grid offset (in input chroma pixels) that keeps chroma siting through a resize.

    For ``log2 > 0`` and left (co-sited) chroma, chroma sample ``i`` sits on luma sample
    ``2**log2 * i``; a plain centre-aligned resize would move it by a fraction of a pixel.

    Args:
        n_in, n_out: chroma sizes along this axis.
        log2: subsampling along this axis.
        sited_left: chroma is co-sited with the first luma sample (MPEG-2/H.264 4:2:0 and
            4:2:2 horizontally); otherwise centred between luma samples.
    """
    if log2 == 0 or not sited_left:
        return 0.0
    s = 1 << log2
    c = 0.0  # left siting: chroma i at luma s*i
    centre = (s - 1) / 2  # where a centre-aligned resize assumes it
    ratio = n_in / n_out
    # output chroma j sits at output luma s*j + c, i.e. input luma (s*j + c + 0.5)*ratio - 0.5,
    # i.e. input chroma ((s*j + c + 0.5)*ratio - 0.5 - c)/s; the centred grid gives
    # ((s*j + centre + 0.5)*ratio - 0.5 - centre)/s. The difference is constant in j:
    return ((c - centre) * ratio - (c - centre)) / s
