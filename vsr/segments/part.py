"""One segment through the normal streaming pipeline, into a video-only part file.

Parts concatenate without re-encoding because each one is a fresh encoder session with
the same options: its first frame is an IDR (H.264/HEVC) or key frame (AV1, FFV1), no
frame refers across a part's edges, and every part has the same codec parameters
(``extradata``), which :mod:`vsr.segments.join` checks, so MP4/MOV get one sample
description. Inside a part, open GOPs are allowed (x265's default): they never leave it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from vsr.config import UpscaleConfig
from vsr.errors import VsrError
from vsr.segments.plan import Plan
from vsr.segments.work import PART_FORMAT, PartRecord, WorkDir, file_sha256

__all__ = ["part_config", "run_part"]

log = logging.getLogger(__name__)

# options that make an encoder's every session start on a frame decodable alone; the other
# encoders named in the docs (libx264, libx265, libsvtav1, ffv1) do so by default
_FRESH_START = {"h264_nvenc": (("forced-idr", "1"),), "hevc_nvenc": (("forced-idr", "1"),)}


def part_config(cfg: UpscaleConfig, plan: Plan, index: int) -> UpscaleConfig:
    """``cfg`` for part ``index``: its range, video only, into NUT with timestamps unshifted."""
    enc = cfg.encode
    extra = tuple(kv for kv in _FRESH_START.get(enc.codec or "", ()) if kv[0] not in dict(enc.options))
    return replace(cfg, range=plan.segments[index].time_range(), video_only=True, overwrite=True,
                   encode=replace(enc, container_format=PART_FORMAT, options=enc.options + extra,
                                  muxer_options=(("avoid_negative_ts", "disabled"),)))


def run_part(src: Path, work: WorkDir, plan: Plan, index: int, cfg: UpscaleConfig, print_: str, *,
             progress: Callable[[Any], None] | None = None, loaded: Any = None,
             cancel: threading.Event | None = None, on_stats: Callable[[Any], None] | None = None) -> PartRecord:
    """Upscale segment ``index`` of ``plan`` into its part and journal record.

    The part is written under a temporary name and renamed when complete (as every vsr
    output); its record is written after it, so a kill leaves either no record (the part is
    computed again) or a complete part with its record.

    Args:
        print_: the run's :func:`vsr.segments.work.fingerprint`.
        progress, loaded, cancel: as :func:`vsr.pipeline.upscale_video` takes them.
        on_stats: called with the part's :class:`vsr.pipeline.VideoStats`.

    Returns:
        The part's journal record.
    """
    from vsr.pipeline import upscale_video

    part = work.part(index)
    work.record_path(index).unlink(missing_ok=True)  # a record never outlives the part it describes
    try:
        stats = upscale_video(src, part, part_config(cfg, plan, index), progress=progress, loaded=loaded,
                              cancel=cancel)
    except VsrError as e:  # a full disk names the output the user gave, not the part in the hidden work folder
        e.args = (str(e).replace(str(part), f"{work.dst} (segment {index}, in its work folder beside it)"),)
        raise
    expected = plan.segments[index].frames
    if stats.frames != expected:
        log.info("segment %d: %d frames written, %d packets planned", index, stats.frames, expected)
    rec = PartRecord(index, print_, stats.frames, part.stat().st_size, file_sha256(part))
    work.save_record(rec)
    if on_stats is not None:
        on_stats(stats)
    return rec
