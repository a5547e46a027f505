"""Still frames of a video as RGB pictures, for comparisons people look at (``vsr demo``,
``tools/expect.py``): FFmpeg converts them with the stream's own matrix and range."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from vsr.errors import MediaError, cause
from vsr.media.decode import first_video_stream, input_hint, open_input
from vsr.media.probe import estimate_frames

__all__ = ["rgb_frames"]


def rgb_frames(path: str | Path, count: int) -> list[np.ndarray]:
    """``count`` frames spread evenly over a video's first video stream.

    Args:
        path: a video file.
        count: frames wanted (fewer come back from a shorter video).

    Returns:
        ``(H, W, 3)`` uint8 RGB arrays, in presentation order, the ``k * n // count``-th frames
        of the ``n`` the header or duration announces (the first ``count`` when unknown).

    Raises:
        MediaError: not a readable video.
    """
    container = open_input(path)
    try:
        stream = first_video_stream(container)
        if stream is None:
            raise MediaError(f"{path}: no video stream")
        total = estimate_frames(stream, container)[0]
        wanted = {k * total // count for k in range(count)} if total >= count else set(range(count))
        out = []
        try:
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    out.append(frame.to_ndarray(format="rgb24"))
                    if len(out) == len(wanted):
                        break
        except av.error.FFmpegError as e:
            if not out:
                raise MediaError(f"{path}: cannot decode ({cause(e)}); {input_hint(path)}") from e
        if not out:
            raise MediaError(f"{path}: no video frame could be decoded; {input_hint(path)}")
        return out
    finally:
        container.close()
