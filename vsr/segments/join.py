"""The join: check every part against the journal, then concatenate them into the output.

No part is re-encoded. The output's other streams (audio, subtitles, attachments), its
chapters and tags come once from the source, so audio has no seam at the cuts. The output
appears only complete (:func:`vsr.output.atomic_output`); the work folder is removed after.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

from vsr.config import UpscaleConfig
from vsr.errors import MediaError
from vsr.media.containers import muxer_for
from vsr.output import atomic_output
from vsr.segments.plan import Plan
from vsr.segments.work import WorkDir, part_error

__all__ = ["join_parts"]

log = logging.getLogger(__name__)


def join_parts(src: Path, dst: Path, plan: Plan, work: WorkDir, print_: str, cfg: UpscaleConfig) -> int:
    """Verify all parts of ``plan`` and write ``dst`` from them.

    Args:
        print_: the fingerprint the parts must carry.
        cfg: the run's options (``overwrite``, ``encode.container_format``, ``deinterlace``).

    Returns:
        Frames in the output.

    Raises:
        MediaError: a part missing, made with other options, corrupt or encoded differently
            (one line naming the segment); an unwritable output.
    """
    from vsr.media.concat import concat, decode_times, scan_part

    count = len(plan.segments)
    scans = []
    for seg in plan.segments:
        why = work.problem(seg.index, print_)
        if why is not None:
            raise part_error(dst, seg.index, count, why)
        try:
            scan = scan_part(work.part(seg.index), plan.time_base, plan.shift(seg))
        except MediaError as e:
            raise part_error(dst, seg.index, count, "unreadable") from e
        rec = work.record(seg.index)
        why = work.problem(seg.index, print_, frames=len(scan.pts), checksum=False)
        if why is not None:
            raise part_error(dst, seg.index, count, why)
        if scans and scan.codec != scans[0].codec:
            raise part_error(dst, seg.index, count, "encoded with other codec parameters than segment 0")
        if rec is not None and rec.frames != seg.frames:
            log.info("segment %d: %d frames in its part, %d packets in the source's range", seg.index, rec.frames,
                     seg.frames)
        scans.append(scan)
    dts = decode_times([s.pts for s in scans])
    from vsr.media.decode import Decoder
    from vsr.stages import output_sar

    decoder = Decoder(src, cfg.deinterlace, options=dict(cfg.input_options),  # open while its streams are copied
                      time_range=plan.range)  # a range: chapters, timecode, re-encoded audio's window as a run's
    try:
        first = next(iter(decoder.frames()), None)  # the rotation and colour tags as the parts' frames had them
        if first is None:
            raise MediaError(f"{src.name}: no video frame could be decoded; {decoder.hint}")
        source = decoder.source_info()
        width, height = scans[0].codec[1:3]
        sar = output_sar(source, SimpleNamespace(width=width, height=height))  # as an unsegmented run's
        parts = [(work.part(s.index), plan.shift(s)) for s in plan.segments]
        with atomic_output(dst, cfg.overwrite) as tmp:
            frames = concat(tmp, cfg.encode.container_format or muxer_for(dst), src, source, first.color, sar, parts,
                            plan.time_base, dts, plan.range)
    finally:
        decoder.close()
    work.remove()
    return frames
