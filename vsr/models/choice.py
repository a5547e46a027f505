"""Which weight set runs on an input: ``clean``, ``compressed``, or ``auto`` from its bits per pixel.

The clean set is trained on bicubic LR and sharpens codec blocking and ringing as if it were
detail; the compressed set is fine-tuned on codec-degraded LR and costs some PSNR on lossless
input (figures in docs/models.md). ``auto`` takes the clean set for lossless codecs and
high-rate input (at least :data:`CLEAN_BPP` bits per pixel per frame) and the compressed set
otherwise, including when the rate is unknown (live streams): most real video is compressed.
"""

from __future__ import annotations

import logging

__all__ = ["CLEAN_BPP", "LOSSLESS_CODECS", "choose_weights"]

log = logging.getLogger(__name__)

# bits per pixel per frame at or above which the input counts as near-lossless (chosen by
# tools/evaluate_video.py measurements, see docs/models.md)
CLEAN_BPP = 1.0
LOSSLESS_CODECS = frozenset({"ffv1", "rawvideo", "huffyuv", "ffvhuff", "utvideo", "png", "qtrle", "magicyuv",
                             "v210", "v410", "r210", "yuv4", "ayuv", "zlib", "lagarith"})


def choose_weights(name: str, scale: int, requested: str, codec: str | None = None,
                   bits_per_pixel: float | None = None) -> str:
    """The weight set to run.

    Args:
        name, scale: the model.
        requested: ``clean``, ``compressed`` or ``auto``.
        codec: the input's decoder name (``h264``, ``ffv1``...), None if unknown.
        bits_per_pixel: the input video's bit rate / (width * height * fps), None if unknown.

    Returns:
        ``requested`` unless it is ``auto``; for ``auto`` the set picked for this input, the
        clean set where the model has no compressed set shipped.

    Raises:
        ModelError: unknown weight set.
    """
    from vsr.models.weights import check_weights, list_models

    if requested != "auto":
        check_weights(requested)
        return requested
    shipped = {s.weights for s in list_models() if s.name == name and s.scale == scale}
    if codec in LOSSLESS_CODECS or (bits_per_pixel is not None and bits_per_pixel >= CLEAN_BPP):
        chosen = "clean"
    else:
        chosen = "compressed" if "compressed" in shipped else "clean"
    bpp = "unknown" if bits_per_pixel is None else f"{bits_per_pixel:.3f}"
    log.info("weights auto: %s (input %s, %s bits per pixel)", chosen, codec or "codec unknown", bpp)
    return chosen
