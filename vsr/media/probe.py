"""Probe a media file: what its first video stream is, without running the pipeline.

:func:`probe` opens the file and decodes one frame (the display rotation lives on
decoded frames, and a file whose first frame does not decode is no use to vsr);
:func:`is_video` only opens it (for scanning folders); :func:`count_frames` demuxes
the whole video stream without decoding (for checking that an output is complete).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.errors import MediaError, cause
from vsr.media.decode import bits_per_pixel, first_video_stream, input_hint, is_url, open_input
from vsr.media.formats import planar_format

__all__ = ["VideoInfo", "probe", "is_video", "count_frames", "estimate_frames"]

# demuxers that read still images (or image sequences), not videos
_IMAGE_FORMATS = {"image2", "gif", "apng", "webp", "tty"}


@dataclass(frozen=True)
class VideoInfo:
    """A media file's first video stream and what else the file holds.

    Attributes:
        path: the file (a URL as a Path: for its name only, not to open).
        format: FFmpeg demuxer name, e.g. ``"matroska,webm"``.
        codec: video decoder name, e.g. ``"h264"``.
        width, height: stored (coded) frame size.
        sample_aspect_ratio: pixel aspect ratio (1 when the file does not say).
        rotation: display rotation in degrees counter-clockwise, one of 0, 90, 180, 270.
        pix_fmt: pixel format of the decoded frames, e.g. ``"yuv420p10le"``.
        bit_depth: bits per sample of the planar format vsr works in (8, 10, 12, 16).
        log2_chroma: ``(log2_w, log2_h)`` chroma subsampling, ``(1, 1)`` for 4:2:0.
        gray: luma only.
        frame_rate: average (or guessed) frames per second, None if unknown.
        duration: seconds (the video stream's, else the container's), None if unknown.
        frames: frame count from the file's header when it has one (``frames_exact``),
            else ``duration * frame_rate`` rounded; 0 when neither is known.
        frames_exact: ``frames`` comes from the header (an MP4 index, for instance).
        audio_streams, subtitle_streams: how many of each the file also holds.
        size_bytes: file size (0 for a URL).
        bits_per_pixel: the video's bits per pixel per frame
            (:func:`vsr.media.decode.bits_per_pixel`), None if unknown.
    """

    path: Path
    format: str
    codec: str
    width: int
    height: int
    sample_aspect_ratio: Fraction
    rotation: int
    pix_fmt: str
    bit_depth: int
    log2_chroma: tuple[int, int]
    gray: bool
    frame_rate: Fraction | None
    duration: float | None
    frames: int
    frames_exact: bool
    audio_streams: int
    subtitle_streams: int
    size_bytes: int
    bits_per_pixel: float | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio_streams > 0

    @property
    def display_size(self) -> tuple[int, int]:
        """``(width, height)`` as shown: SAR applied to the width, then the rotation."""
        w, h = round(self.width * self.sample_aspect_ratio), self.height
        return (h, w) if self.rotation % 180 == 90 else (w, h)

    @property
    def chroma(self) -> str:
        """Chroma subsampling as people write it: ``4:2:0``, ``4:2:2``, ``4:4:4``, ``gray`` ..."""
        if self.gray:
            return "gray"
        return {(1, 1): "4:2:0", (1, 0): "4:2:2", (0, 0): "4:4:4", (0, 1): "4:4:0", (2, 0): "4:1:1",
                (2, 2): "4:1:0"}.get(self.log2_chroma, f"log2 {self.log2_chroma}")


def is_video(path: str | Path) -> bool:
    """Whether FFmpeg reads ``path`` as a video: a video stream that is not cover art,
    in a container that is not a still-image or image-sequence demuxer. Never raises."""
    p = Path(path)
    try:
        if not p.is_file() or p.stat().st_size == 0:
            return False
        with av.open(str(p), "r") as c:
            names = set(c.format.name.split(","))
            if names & _IMAGE_FORMATS or any(n.endswith("_pipe") for n in names):
                return False
            return first_video_stream(c) is not None
    except Exception:  # noqa: BLE001 - anything FFmpeg cannot open is simply not a video
        return False


def probe(path: str | Path, options: dict[str, str] | None = None, timeout: float | None = None) -> VideoInfo:
    """Describe the first video stream of ``path`` (decodes its first frame).

    Args:
        path: a file, or a URL FFmpeg's protocols read (its ``size_bytes`` is then 0).
        options, timeout: as for :func:`vsr.media.decode.open_input`.

    Raises:
        MediaError: missing or empty file, not a media file, no video stream, or no
            frame can be decoded (a truncated or corrupt file); a URL that does not answer.
    """
    url = is_url(path)
    p = str(path) if url else Path(path)
    container = open_input(p, options=options, timeout=timeout)
    try:
        stream = first_video_stream(container)
        if stream is None:
            raise MediaError(f"{p}: no video stream (audio-only, image or data file)")
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.error.FFmpegError as e:
            raise MediaError(f"{p}: the video does not decode ({cause(e)}); {input_hint(path)}") from e
        if first is None:
            raise MediaError(f"{p}: no video frame could be decoded (empty or truncated file); {input_hint(path)}")
        cc = stream.codec_context
        fmt = planar_format(first.format.name)
        frames, exact, duration, rate = estimate_frames(stream, container)
        sar = stream.sample_aspect_ratio or cc.sample_aspect_ratio or Fraction(1)
        return VideoInfo(
            path=Path(p),
            format=container.format.name,
            codec=cc.name,
            width=first.width,
            height=first.height,
            sample_aspect_ratio=Fraction(sar),
            rotation=round(first.rotation) % 360,
            pix_fmt=first.format.name,
            bit_depth=fmt.bit_depth,
            log2_chroma=fmt.log2_chroma,
            gray=fmt.gray,
            frame_rate=Fraction(rate) if rate else None,
            duration=duration,
            frames=int(frames),
            frames_exact=exact,
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
            size_bytes=0 if url else p.stat().st_size,
            bits_per_pixel=bits_per_pixel(stream, container),
        )
    finally:
        container.close()


def estimate_frames(stream, container) -> tuple[int, bool, float | None, Fraction | None]:
    """``(frames, exact, duration, rate)`` of an open PyAV video stream: the header's frame
    count when it has one (``exact``), else duration x average rate rounded (0 when either is
    unknown). Progress, the batch plan and completeness checks all take this one estimate.
    ``duration`` in seconds and ``rate`` in frames per second are None when unknown."""
    rate = stream.average_rate or stream.guessed_rate or None
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000
    if stream.frames:
        return int(stream.frames), True, duration, rate
    return (round(duration * rate) if duration and rate else 0), False, duration, rate


def count_frames(path: str | Path, options: dict[str, str] | None = None, timeout: float | None = None) -> int:
    """Video packets in ``path``, counted by demuxing the whole file (no decoding).

    For the intra/inter codecs vsr writes one packet is one frame, so this is the
    frame count of a file vsr wrote.

    Raises:
        MediaError: the file cannot be opened, has no video, or breaks off while demuxing.
    """
    p = str(path) if is_url(path) else Path(path)
    container = open_input(p, options=options, timeout=timeout)
    try:
        stream = first_video_stream(container)
        if stream is None:
            raise MediaError(f"{p}: no video stream")
        n = 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    n += 1
        except av.error.FFmpegError as e:
            raise MediaError(f"{p}: breaks off after {n} video packets ({cause(e)})") from e
        return n
    finally:
        container.close()
