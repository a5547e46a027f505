"""What a batch did: one :class:`FileResult` per input, the summary and the JSON report."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsr.output import atomic_write

__all__ = ["FileResult", "summarize", "summary_lines", "write_report"]


@dataclass
class FileResult:
    """What happened to one input.

    Attributes:
        input: the input path as given (or found).
        output: the output path, None when none was planned.
        status: ``done``, ``skipped`` or ``failed``.
        reason: why it was skipped or failed; a note for done files (e.g. ``copied``).
        action: ``upscale``, ``copy`` or ``""`` (nothing was run).
        frames: frames written.
        input_frames: frames in the input (from its header, else estimated from its duration).
        duration: input duration in seconds (None if unknown).
        frame_rate: input frames per second (None if unknown).
        seconds: wall-clock time of the job.
        fps: ``frames / seconds``.
        input_size, output_size: stored frame ``[width, height]``.
        input_bytes, output_bytes: file sizes.
        model, scale, backend: what ran.
        segments: segments the file was split into and computed as Ray tasks before the join
            (``vsr batch --ray --split-longer-than``); 0: computed whole.
        internal: True when the failure was a bug in vsr or an unexpected library error (the
            reason then starts ``internal error:``), not a bad input.
    """

    input: str
    output: str | None
    status: str
    reason: str = ""
    action: str = ""
    frames: int = 0
    input_frames: int = 0
    duration: float | None = None
    frame_rate: float | None = None
    seconds: float = 0.0
    fps: float = 0.0
    input_size: list[int] | None = None
    output_size: list[int] | None = None
    input_bytes: int = 0
    output_bytes: int = 0
    model: str = ""
    scale: int = 0
    backend: str = ""
    segments: int = 0
    internal: bool = False

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def summarize(results: list[FileResult]) -> dict[str, int]:
    """Counts per status: ``{"total", "done", "skipped", "failed"}``."""
    counts = {"total": len(results), "done": 0, "skipped": 0, "failed": 0}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def summary_lines(results: list[FileResult], seconds: float) -> list[str]:
    """The human summary at the end of a batch: counts, then each failed file with its reason."""
    c = summarize(results)
    frames = sum(r.frames for r in results)
    lines = [f"batch: {c['done']} done, {c['skipped']} skipped, {c['failed']} failed of {c['total']} file(s); "
             f"{frames} frames in {seconds:.1f} s"]
    lines += [f"  failed: {r.input}: {r.reason}" for r in results if r.status == "failed"]
    return lines


def write_report(path: str | os.PathLike, results: list[FileResult], outdir: Path, started: float,
                 interrupted: bool = False) -> None:
    """Write the JSON report (atomically: a temporary file renamed)."""
    path = Path(path)
    data = {
        "version": 1,
        "outdir": str(outdir),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 3),
        "interrupted": interrupted,
        "summary": summarize(results),
        "frames": sum(r.frames for r in results),
        "files": [r.to_dict() for r in results],
    }
    atomic_write(path, (json.dumps(data, indent=2, default=str) + "\n").encode())
