"""The upscaler's memory budget: one figure for every batch in flight, its planes and its tiles.

A batch in flight holds its planes (the luma and chroma as floats, the network's output, the
code values it is rounded to) and, while the network runs, the activations of one tile. The
budget is shared: ``in_flight`` batches at once, each with ``planes`` bytes and an activation
allowance that sets its tile size (:func:`vsr.upscale.plan.choose_tile`). Large frames get
fewer batches in flight (8K x2: one batch's planes alone are 1.2 GB), small frames as many as
there are workers. The queues between the stages are bounded in bytes as well
(:func:`queue_frames`).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DEFAULT_BUDGET", "QUEUE_BYTES", "MIN_ACTIVATIONS", "Allotment", "plane_bytes", "allot", "queue_frames"]

DEFAULT_BUDGET = 4 << 30  # bytes for all batches in flight: planes and activations (1080p: untiled)
MIN_ACTIVATIONS = 256 << 20  # the least activation allowance per call (tiles of ~580 pixels for ESPCN)
QUEUE_BYTES = 512 << 20  # decoded and upscaled frames waiting in each queue between the stages


class Allotment(NamedTuple):
    """How a budget is shared: ``in_flight`` batches at once, each allowed ``activations`` bytes
    of network activations per backend call."""

    in_flight: int
    activations: int


def plane_bytes(n: int, in_size: tuple[int, int], out_size: tuple[int, int], chroma_share: float) -> int:
    """Working bytes of one batch of ``n`` frames, ``in_size`` -> ``out_size`` ``(width, height)``.

    Per output luma pixel: the network's float32 output (4), the code value (1 or 2, counted 2);
    per input luma pixel: its float32 copy (4) and code value (2); the chroma (``chroma_share``
    chroma samples per luma sample: 0.5 for 4:2:0, 2 for 4:4:4) as float32 through the resize,
    its two passes alive at once (8 per output sample), and its code values (2).
    """
    out_px, in_px = out_size[0] * out_size[1], in_size[0] * in_size[1]
    return int(n * (out_px * (6 + chroma_share * 10) + in_px * (6 + chroma_share * 6)))


def allot(budget: int, workers: int, planes: int) -> Allotment:
    """Share ``budget`` bytes between at most ``workers`` batches of ``planes`` bytes each.

    As many batches as leave each at least :data:`MIN_ACTIVATIONS` of activations (half the
    budget where that is less), at least one; the rest of the budget is split evenly as their
    activation allowance, never below that least (a frame whose planes alone exceed the budget
    still runs, one batch at a time, in small tiles).
    """
    least = min(MIN_ACTIVATIONS, budget // 2)
    fit = max(1, min(workers, budget // max(1, planes + least)))
    return Allotment(fit, max(least, (budget - fit * planes) // fit))


def queue_frames(limit: int, frame_bytes: int) -> int:
    """Frames a queue between the stages may hold: ``limit``, fewer when they would exceed
    :data:`QUEUE_BYTES`, at least one."""
    return max(1, min(limit, QUEUE_BYTES // max(1, frame_bytes)))
