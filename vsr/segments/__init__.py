"""A file is not the unit of work: segments cut at source keyframes, computed independently
(here, on a farm, or as Ray tasks), resumed from a journal and joined without re-encoding.

Modules: :mod:`~vsr.segments.plan` (keyframe scan, cut points), :mod:`~vsr.segments.work`
(work folder and journal), :mod:`~vsr.segments.part` (one segment through the pipeline),
:mod:`~vsr.segments.join` (verify and concatenate), :mod:`~vsr.segments.run` (the whole run),
:mod:`~vsr.segments.ray` (the segments as Ray tasks).
"""

from vsr.segments.plan import AUTO_SECONDS, Plan, Segment, parse_count, plan_segments
from vsr.segments.run import SegmentStats, upscale_segmented

__all__ = ["AUTO_SECONDS", "Plan", "Segment", "SegmentStats", "parse_count", "plan_segments", "upscale_segmented"]
