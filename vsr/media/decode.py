"""Demux and decode with PyAV: YuvFrames for the first video stream, packets for the rest."""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av

from vsr.config import TimeRange
from vsr.errors import MediaError, cause
from vsr.frames import YuvFrame
from vsr.media.normalize import FrameNormalizer, to_yuv_frame
from vsr.media.source import SourceInfo
from vsr.media.timestamps import InputClock, Unpacker
from vsr.media.trim import Trim, enter_range

__all__ = ["Decoder", "bits_per_pixel", "first_video_stream", "input_hint", "is_url", "open_input", "to_yuv_frame"]  # to_yuv_frame: vsr.media.normalize

log = logging.getLogger(__name__)

# AVFieldOrder values that mean interlaced coding (TT, BB, TB, BT)
_INTERLACED_ORDERS = {2, 3, 4, 5}


def is_url(path: str | Path) -> bool:
    """Whether ``path`` names an FFmpeg protocol URL (``http://``, ``tcp://``, ``rtsp://`` ...)."""
    scheme, sep, _ = str(path).partition("://")
    return bool(sep) and scheme.isalnum() and not Path(path).exists()


def input_hint(path: str | Path) -> str:
    """What to do about an input that does not read, said after the message of what happened:
    for stdin, the formats a pipe can carry; for a URL, the source; for a file, check and copy again."""
    if str(path) == "-":
        return ("a pipe cannot seek back: pipe MKV, MPEG-TS or NUT (MP4 only with its index first, "
                "-movflags +faststart), or give the file's name instead of -")
    if is_url(path):
        return "check the address and that the source is sending"
    return "check that it is a video and plays in a player; if it does not, it is damaged or incomplete: copy it again"


def open_input(path: str | Path, hwaccel: str | None = None, options: dict[str, str] | None = None,
               timeout: float | None = None) -> av.container.InputContainer:
    """Open a media file, ``-`` (stdin) or a URL FFmpeg's protocols read, with errors a user can act on.

    Args:
        options: FFmpeg format/protocol options (``{"rtsp_transport": "tcp"}``).
        timeout: seconds without data before opening or reading gives up (None: wait forever).

    Raises:
        MediaError: missing, empty, unreadable, or not a media file; a URL that does not answer.
    """
    p = Path(path)
    if str(path) == "-" or is_url(path):  # stdin through FFmpeg's pipe protocol, or a network source
        name = "stdin" if str(path) == "-" else str(path)
        try:
            return av.open("pipe:0" if str(path) == "-" else str(path), "r", options=dict(options or {}),
                           timeout=timeout)
        except av.error.FFmpegError as e:
            if timeout is not None and isinstance(e, av.error.ExitError):
                raise MediaError(f"{name}: no data for {timeout:g} s; the source stopped (--timeout)") from e
            raise MediaError(f"{name}: cannot read as video ({cause(e)}); {input_hint(path)}") from e
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if p.is_dir():
        raise MediaError(f"{p}: is a directory, not a video file")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: file is empty")
    kwargs = {}
    if hwaccel:
        from av.codec.hwaccel import HWAccel

        from vsr.devices import cuda_unavailable

        kind, _, index = hwaccel.partition(":")  # "cuda" or "cuda:N": the GPU that decodes
        why = cuda_unavailable(hwaccel) if kind == "cuda" else None
        if why:
            raise MediaError(f"--hwdec {kind}: {why}; decode on the CPU instead (leave out --hwdec)")
        kwargs["hwaccel"] = HWAccel(device_type=kind, device=index or None, allow_software_fallback=True)
    try:
        return av.open(str(p), "r", options=dict(options or {}), timeout=timeout, **kwargs)
    except av.error.FFmpegError as e:
        why, advice = _why(e, p)
        raise MediaError(f"{p}: cannot read as video ({why}); {advice}") from e


def first_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is not cover art (an attached picture), or None."""
    for s in container.streams.video:
        if not (s.disposition & av.stream.Disposition.attached_pic):
            return s
    return None


def _why(e: Exception, path: Path) -> tuple[str, str]:
    """``(what happened, what to do)`` for a file FFmpeg cannot open."""
    # FFmpeg's own "moov atom not found" is only in the message when its logging is on
    if "moov atom not found" in str(e) or _moov_missing(path):
        return ("the MP4 index (moov atom) is missing: the file is truncated or still being written",
                "wait until it is complete, or copy it again")
    return cause(e), input_hint(path)


def _moov_missing(path: Path) -> bool:
    """True for an MP4/MOV file (``ftyp`` box first) with no top-level ``moov`` box."""
    try:
        with open(path, "rb") as f:
            end, pos = path.stat().st_size, 0
            while pos + 8 <= end:
                f.seek(pos)
                head = f.read(16)
                size, kind = struct.unpack_from(">I4s", head)
                if pos == 0 and kind != b"ftyp":
                    return False
                if kind == b"moov":
                    return False
                if size == 1 and len(head) == 16:
                    size = struct.unpack_from(">Q", head, 8)[0]
                if size < 8:  # 0: the box runs to the end of the file
                    break
                pos += size
            return pos > 0
    except OSError:
        return False


@dataclass
class DecodeStats:
    frames: int = 0
    corrupt_packets: int = 0
    corrupt_frames: int = 0  # decoded, but flagged corrupt (errors concealed)
    decoded: int = 0  # frames out of the video decoder, kept or not (a time range drops some)


def bits_per_pixel(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> float | None:
    """Bits per pixel per frame of ``stream``: its bit rate (the stream's, else the container's
    less the other streams') over width * height * frame rate; None where a figure is unknown
    (live input). The one estimate ``--weights auto`` decides on, for vsr upscale and the batch plan."""
    cc = stream.codec_context
    rate = stream.guessed_rate or stream.average_rate
    bits = stream.bit_rate or cc.bit_rate or 0
    if not bits and container.bit_rate:
        bits = container.bit_rate - sum(getattr(x, "bit_rate", None) or 0  # data streams have none
                                        for x in container.streams if x is not stream)
    pixels = (cc.width or 0) * (cc.height or 0) * float(rate or 0)
    return bits / pixels if bits > 0 and pixels > 0 else None


class Decoder:
    """Reads one input: the first video stream decoded, every other stream as packets.

    Args:
        path: input file.
        deinterlace: ``auto`` (FFmpeg's field-aware ``bwdif`` on frames flagged
            interlaced, one output frame per input frame, timestamps kept) or ``off``.
        hwaccel: ``cuda`` or ``cuda:N`` for NVDEC decoding on that GPU (frames still
            arrive in host memory), or None.
        threads: FFmpeg decoder threads (0: automatic).
        time_range: only this part of the input (see :mod:`vsr.media.trim`): a file is
            entered at a keyframe before its start, frames outside it are dropped, copied
            streams are cut at packet boundaries, and timestamps start at zero.

    Raises:
        MediaError: the file cannot be read or has no video stream; the range starts past
            the input's end.
    """

    def __init__(self, path: str | Path, deinterlace: str = "auto", hwaccel: str | None = None, threads: int = 0,
                 options: dict[str, str] | None = None, timeout: float | None = None,
                 time_range: TimeRange | None = None):
        self.path = Path(path)
        self.name = "stdin" if str(path) == "-" else str(path) if is_url(path) else self.path.name
        self.hint = input_hint(path)  # what to do when it does not read
        self.timeout = timeout
        self.container = open_input(path, hwaccel, options, timeout)
        stream = first_video_stream(self.container)
        if stream is None:
            self.container.close()
            raise MediaError(f"{self.path}: no video stream (audio-only or data file)")
        self.trim: Trim | None = None
        self._pending: list[av.Packet] = []  # demuxed while checking a seek: processed first
        if time_range is not None:  # files (HTTP ones too) seek to it; pipes and live streams read and drop

            def reopen():
                self.container = open_input(path, hwaccel, options, timeout)
                return self.container, first_video_stream(self.container)

            try:
                (self.container, stream), self.trim, self._pending = enter_range(
                    (self.container, stream), time_range, self.name,
                    str(path) != "-" and (not is_url(path) or bool(self.container.duration)), reopen,
                    before=deinterlace != "off" and stream.codec_context.field_order in _INTERLACED_ORDERS)
            except BaseException:
                self.container.close()
                raise
        self.stream = stream
        cc = self.stream.codec_context
        cc.thread_type = "AUTO"
        cc.thread_count = threads
        self.deinterlace = deinterlace
        self.stats = DecodeStats()
        self._graph = None
        self._last_pts: int | None = None
        self.rotation = 0  # display rotation of the first frame, degrees counter-clockwise
        self.normalizer = FrameNormalizer(self.name, stream)  # size changes, alpha (vsr.media.normalize)
        self.clock = InputClock(self.container, stream, self.name)  # resets, decode-order AVI (vsr.media.timestamps)
        self._unpack = Unpacker(stream, self.name)  # DivX/Xvid "packed" B-frames: one frame per packet again

    @property
    def time_base(self) -> Fraction:
        return self.stream.time_base

    def _filter(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        if self.deinterlace == "off":
            return [frame]
        if self._graph is None:
            order = self.stream.codec_context.field_order
            if not (frame.interlaced_frame or order in _INTERLACED_ORDERS):
                self.deinterlace = "off"
                return [frame]
            log.info("interlaced input: deinterlacing with bwdif")
            g = av.filter.Graph()
            src = g.add_buffer(template=self.stream)
            bw = g.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
            sink = g.add("buffersink")
            src.link_to(bw)
            bw.link_to(sink)
            g.configure()
            self._graph = g
        self._graph.push(frame)
        return self._pull()

    def _pull(self) -> list[av.VideoFrame]:
        out = []
        while True:
            try:
                out.append(self._graph.pull())
            except (BlockingIOError, av.error.EOFError, EOFError):
                return out
            except av.error.FFmpegError as e:
                if getattr(e, "errno", None) in (11, 35):  # EAGAIN
                    return out
                raise

    def _emit(self, frames: list[av.VideoFrame]) -> Iterator[YuvFrame]:
        for f in frames:
            pts = f.pts
            if pts is not None and f.time_base and f.time_base != self.time_base:
                # filters may change the time base (bwdif halves it and doubles pts): back to the stream's
                pts = round(Fraction(pts) * f.time_base / self.time_base)
            pts = self._last_pts = self.clock.shown(pts)  # missing or not after the last: one frame on
            if self.trim is not None:
                kept, pts = self.trim.frame(pts, self.time_base)
                if not kept:
                    continue
            yield to_yuv_frame(f, self.stats.frames, pts, self.time_base)
            self.stats.frames += 1

    def expected_frames(self, whole: int) -> int:
        """Frames :meth:`frames` is expected to yield, given the input's estimated frame count
        ``whole`` (:func:`vsr.media.probe.estimate_frames`): the range's share of it with a time
        range (0: unknown)."""
        if self.trim is None:
            return whole
        return self.trim.estimate(whole, self.stream.average_rate or self.stream.guessed_rate)

    def bits_per_pixel(self) -> tuple[str, float | None]:
        """``(decoder name, bits per pixel per frame)`` of the video stream (see
        :func:`bits_per_pixel`)."""
        return self.stream.codec_context.name, bits_per_pixel(self.stream, self.container)

    def source_info(self) -> SourceInfo:
        """What the encoder needs of this input (call it once the first frame is decoded, so
        the rotation is known)."""
        from vsr.media.streams import source_timecode

        s, cc = self.stream, self.stream.codec_context
        sar = s.sample_aspect_ratio or cc.sample_aspect_ratio
        rate = s.guessed_rate or s.average_rate or None
        chapters, timecode = list(self.container.chapters()), source_timecode(self.container, s)
        if self.trim is not None:
            chapters, timecode = self.trim.chapters(chapters), self.trim.timecode(timecode, rate)
        return SourceInfo(
            name=self.path.name, format=self.container.format.name,
            rate=rate, coded_size=self.normalizer.size or (cc.width, cc.height),
            sample_aspect_ratio=Fraction(sar) if sar else Fraction(1), sar_tagged=bool(s.sample_aspect_ratio),
            rotation=self.rotation,
            video_tags={k: s.metadata[k] for k in ("language", "title", "handler_name") if k in s.metadata},
            timecode=timecode,
            metadata={k: v for k, v in self.container.metadata.items() if k != "encoder"},
            chapters=chapters,
            streams=tuple(x for x in self.container.streams if x is not s and x.type != "video"),
            window=None if self.trim is None else self.trim.window())

    def __iter__(self) -> Iterator[YuvFrame]:
        """:meth:`frames` with the other streams' packets dropped."""
        return self.frames()

    def frames(self, packets: Callable[[av.Packet], None] | None = None) -> Iterator[YuvFrame]:
        """Yield the video's :class:`YuvFrame` s in presentation order; every other stream's
        packets go to ``packets`` (in demux order, as they arrive), or are dropped.

        Packets that fail to decode are skipped with a warning (counted in ``stats``); frames
        decoded with concealed errors are kept and counted. With a time range, only the
        range's frames and packets, with timestamps from zero (see :mod:`vsr.media.trim`).

        Raises:
            MediaError: a read error; a time range that held no video frame.
        """
        trim = self.trim
        for packet in self._demux():
            video = packet.stream is self.stream
            self.clock.packet(packet, video)  # before the range is checked: times after a reset follow on
            if not video and (packet.dts is not None or packet.pts is not None):
                for item in [packet] if trim is None else trim.take(packet):
                    if packets is not None:
                        packets(item)
            if trim is not None and trim.video_done:  # only copied streams' late packets are still wanted
                if trim.drained(packet):
                    return self._check_kept()
                continue
            if packet.stream is not self.stream or (trim is not None and trim.skip_video(packet)):
                continue
            for unpacked in self._unpack(packet):
                try:
                    frames = self.stream.codec_context.decode(unpacked)
                except av.error.FFmpegError as e:
                    self.stats.corrupt_packets += 1
                    when = "" if packet.pts is None else f" at {float(packet.pts * packet.time_base):.3f} s"
                    log.warning("%s: skipped a corrupt video packet%s (%s)", self.path.name, when, e.strerror or e)
                    continue
                if frames and self.stats.frames == 0 and self._last_pts is None:
                    self.rotation = frames[0].rotation
                self._received(frames)
                yield from self._emit([g for f in frames for g in self._filter(self.normalizer.conform(f))])
        try:
            frames = self.stream.codec_context.decode(None)
        except av.error.EOFError:  # demux already sent the flush packet
            frames = []
        except av.error.FFmpegError as e:
            log.warning("%s: error while flushing the decoder (%s)", self.path.name, e.strerror or e)
            frames = []
        self._received(frames)
        out = [g for f in frames for g in self._filter(self.normalizer.conform(f))]
        if self._graph is not None:
            self._graph.push(None)
            out += self._pull()
        yield from self._emit(out)
        self._check_kept()

    def _received(self, frames: list[av.VideoFrame]) -> None:
        """Decoded frames: best-effort times (vsr.media.timestamps), then corrupt ones counted."""
        for f in frames:
            f.pts = self.clock.frame_pts(f)
        self.stats.decoded += len(frames)
        # frames decoded before a range's start (open-GOP leading frames after a seek) do not count
        self.stats.corrupt_frames += sum(f.is_corrupt and (self.trim is None or self.trim.inside(f.pts, f.time_base))
                                         for f in frames)

    def _check_kept(self) -> None:
        if self.trim is not None and self.trim.kept == 0:
            if self.stats.decoded == 0:  # nothing decoded at all: the input is at fault, not the range
                raise MediaError(f"{self.name}: no video frame could be decoded; {self.hint}")
            raise self.trim.no_frames()

    def _demux(self) -> Iterator[av.Packet]:
        """``container.demux()`` with a read error or timeout as one MediaError."""
        yield from self._pending
        self._pending = []
        it = self.container.demux()
        while True:
            try:
                packet = next(it)
            except StopIteration:
                return
            except av.error.FFmpegError as e:
                if self.timeout is not None and isinstance(e, av.error.ExitError):
                    raise MediaError(f"{self.name}: no data for {self.timeout:g} s; the source stopped "
                                     "(--timeout)") from e
                raise MediaError(f"{self.name}: reading the input failed ({cause(e)}); {self.hint}") from e
            yield packet

    def close(self) -> None:
        self.container.close()
