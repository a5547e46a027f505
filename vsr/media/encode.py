"""Encode YuvFrames and mux them with the passed-through streams, with PyAV."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.config import EncodeConfig
from vsr.errors import MediaError, UsageError, cause
from vsr.frames import YuvFrame
from vsr.media.encoder_options import PRESETS, check_names, check_unused, open_failed, quiet_library_logs
from vsr.media.formats import planar_format, with_depth
from vsr.media.hdr import encoder_options
from vsr.media.source import SourceInfo
from vsr.media.streams import Passthrough
from vsr.media.timestamps import MonotonicMuxer

__all__ = ["Encoder", "carry_over", "tag_for_apple", "default_codec", "choose_pix_fmt", "check_settings", "crf_problem", "CRF_RANGES",
           "find_encoder", "known_pix_fmt"]

log = logging.getLogger(__name__)

_ODD_SIZES_OK = {"ffv1", "rawvideo", "utvideo", "huffyuv", "ffvhuff"}
_CRF_OPTION = {"libx264": "crf", "libx265": "crf", "libsvtav1": "crf", "libvpx-vp9": "crf", "libaom-av1": "crf"}
_NVENC_HINT = (
    "NVENC could not open: it needs an NVIDIA GPU with hardware video encoders and its driver (many "
    "data-centre GPUs such as the A100 and H100 have none); use a software codec such as --codec libx264 or libx265"
)


def tag_for_apple(cc: av.codec.context.CodecContext, codec: str, output: av.container.OutputContainer) -> None:
    """HEVC in MP4/MOV tagged ``hvc1`` (parameter sets in the sample entry), as Apple's players
    need, not FFmpeg's default ``hev1``; any other codec or container is left alone."""
    if codec == "hevc" and {"mp4", "mov"} & set(output.format.name.split(",")):
        cc.codec_tag = "hvc1"


def default_codec(bit_depth: int, container_format: str) -> str:
    """libx264 for 8-bit, libx265 for deeper sources; SVT-AV1 for WebM."""
    if "webm" in container_format.split(","):
        return "libsvtav1"
    return "libx264" if bit_depth == 8 else "libx265"


# The scale of each encoder's --crf (the option _CRF_OPTION maps it to, or cq for NVENC); an
# encoder not listed checks the value itself when it opens
CRF_RANGES = {
    "libx264": (0, 51), "libx264rgb": (0, 51), "libx265": (0, 51), "libsvtav1": (0, 63), "libaom-av1": (0, 63),
    "libvpx-vp9": (0, 63), "h264_nvenc": (0, 51), "hevc_nvenc": (0, 51), "av1_nvenc": (0, 51),
}


def crf_problem(crf: int, name: str) -> str | None:
    """Why ``crf`` is outside encoder ``name``'s scale (one line naming it), or None."""
    low, high = CRF_RANGES.get(name, (0, None))
    if crf < low or (high is not None and crf > high):
        span = f"{low} to {high}" if high is not None else f"{low} or more"
        return f"--crf {crf}: out of range; {name} takes {span} (lower is better quality)"
    return None


def find_encoder(name: str) -> av.codec.Codec:
    """The encoder a ``--codec`` names.

    Raises:
        UsageError: this FFmpeg has none of that name.
    """
    try:
        return av.codec.Codec(name, "w")
    except (ValueError, av.error.FFmpegError):
        raise UsageError(f"--codec {name}: this FFmpeg has no such encoder; e.g. libx264, libx265, libsvtav1, ffv1 "
                         "(FFmpeg's encoder names)") from None


def check_settings(codec: av.codec.Codec, pix_fmt: str | None = None, preset: str | None = None,
                   crf: int | None = None) -> None:
    """Refuse a ``--pix-fmt``, ``--preset`` or ``--crf`` the encoder does not take, naming what
    it takes.

    Raises:
        UsageError: a pixel format FFmpeg does not know or the encoder cannot write, a preset
            not in the encoder's list (x264, x265), or a CRF outside its scale.
    """
    problem = crf_problem(crf, codec.name) if crf is not None else None
    if problem:
        raise UsageError(problem)
    takes = [f.name for f in codec.video_formats or []]
    if pix_fmt is not None and (pix_fmt not in takes if takes else not known_pix_fmt(pix_fmt)):
        raise UsageError(f"--pix-fmt {pix_fmt}: {codec.name} cannot write it; it takes "
                         f"{', '.join(takes) or 'formats such as yuv420p, yuv420p10le, yuv444p'}")
    presets = PRESETS.get(codec.name)
    if preset and presets and preset not in presets:
        raise UsageError(f"--preset {preset}: {codec.name} has no such preset; use one of {', '.join(presets)}")


def known_pix_fmt(name: str) -> bool:
    """Whether FFmpeg knows a pixel format of that name (``yuv420p10le``)."""
    try:
        av.VideoFormat(name)
    except ValueError:
        return False
    return True


def choose_pix_fmt(codec: av.codec.Codec, wanted: str) -> str:
    """``wanted`` if the encoder takes it, else the closest format it does take.

    Closest: same layout at a supported depth (deeper first), then 4:2:0 at the same depth.
    """
    formats = [f.name for f in codec.video_formats or []]
    if not formats or wanted in formats:
        return wanted
    fmt = planar_format(wanted)
    for depth in sorted({8, 10, 12, 16}, key=lambda d: (d < fmt.bit_depth, abs(d - fmt.bit_depth))):
        name = with_depth(fmt, depth)
        if name in formats:
            return name
    for depth in (fmt.bit_depth, 10, 8):
        name = "yuv420p" if depth == 8 else f"yuv420p{depth}le"
        if name in formats:
            return name
    return formats[0]


class Encoder:
    """Owns the output container: one encoded video stream plus passthrough streams.

    It is created with the first upscaled frame, which fixes the video stream's size,
    format, colour tags and HDR metadata, so they always match what the upscaler made.

    Args:
        path: file to write (the pipeline passes a temporary name).
        first: the first frame to encode (it is not encoded yet: call :meth:`encode`).
        source: what the encoder takes from the input: streams to carry over, chapters,
            metadata, frame rate, timecode, video tags, rotation.
        config: encoder choice and options.
        container_format: FFmpeg muxer name, or None to guess from ``path``'s suffix.
        sample_aspect_ratio: pixel aspect ratio of the output.
        pad_odd: when the encoder's chroma subsampling needs even sizes (x264 4:2:0 and
            the like) and the frame is odd, replicate the last luma column/row instead of
            failing (the chroma planes already cover it). For sizes nobody asked for exactly.
    """

    def __init__(
        self,
        path: Path,
        first: YuvFrame,
        source: SourceInfo,
        config: EncodeConfig,
        container_format: str | None = None,
        sample_aspect_ratio: Fraction | None = None,
        pad_odd: bool = False,
    ) -> None:
        self.path = Path(path)
        self.config = config
        self._pad_odd = pad_odd
        self.pad = (0, 0)  # (right, bottom) luma pixels replicated to fit the chroma subsampling
        self._sar = sample_aspect_ratio
        try:
            self.output = av.open(str(path), "w", format=container_format, options=dict(config.muxer_options))
        except (ValueError, av.error.FFmpegError) as e:
            raise MediaError(f"{path}: cannot write this container ({cause(e)})") from e
        self._source = source
        self._muxer = MonotonicMuxer(self.output)
        self.frames = 0
        try:
            self._open_video(first)
        except BaseException:
            self.abort()
            raise

    # -- set-up -------------------------------------------------------------------------------
    def _open_video(self, frame: YuvFrame) -> None:
        cfg = self.config
        name = cfg.codec or default_codec(frame.bit_depth, self.output.format.name)
        try:
            codec = av.codec.Codec(name, "w")
        except (ValueError, av.error.FFmpegError) as e:
            raise MediaError(f"encoder {name!r} is not available in this FFmpeg build") from e
        check_settings(codec, cfg.pix_fmt, cfg.preset, cfg.crf)
        check_names(name, cfg)
        work = planar_format(frame_format_name(frame))
        pix_fmt = cfg.pix_fmt or choose_pix_fmt(codec, work.name)
        if cfg.pix_fmt is None and pix_fmt != work.name:
            log.warning("%s cannot encode %s; writing %s", name, work.name, pix_fmt)
        rate = self._source.rate or Fraction(25)
        try:
            stream = self.output.add_stream(name, rate=rate)
        except (ValueError, av.error.FFmpegError) as e:
            raise MediaError(f"{self.output.format.name.split(',')[0]} files cannot hold {name} video "
                             f"({cause(e)})") from e
        cc = stream.codec_context
        out = planar_format(pix_fmt)
        if self._pad_odd and name not in _ODD_SIZES_OK:
            mw, mh = 1 << out.log2_chroma[0], 1 << out.log2_chroma[1]
            self.pad = (-frame.width % mw, -frame.height % mh)
            if any(self.pad):
                log.warning("%s needs sizes divisible by %d and %d: %dx%d padded to %dx%d by repeating the edge",
                            name, mw, mh, frame.width, frame.height, frame.width + self.pad[0],
                            frame.height + self.pad[1])
        self.size = (frame.width + self.pad[0], frame.height + self.pad[1])
        stream.width, stream.height = self.size
        stream.pix_fmt = pix_fmt
        stream.time_base = frame.time_base
        cc.time_base = frame.time_base
        cc.framerate = rate
        if self._sar:
            cc.sample_aspect_ratio = self._sar
            stream.sample_aspect_ratio = self._sar  # muxers such as Matroska read the stream's
        c = frame.color
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = c.range, c.space, c.primaries, c.trc
        cc.thread_type = "AUTO"
        opts: dict[str, str] = {}
        crf_key = _CRF_OPTION.get(name, "cq" if "nvenc" in name else "crf") if cfg.crf is not None else None
        if crf_key:
            opts[crf_key] = str(cfg.crf)
        elif name in ("libx264", "libx265"):
            opts["crf"] = "18" if name == "libx264" else "20"
        if cfg.preset:
            opts["preset"] = cfg.preset
        opts.update(encoder_options(name, c.hdr10))
        for key, value in cfg.options:
            if key in opts and key.endswith("-params"):
                opts[key] = opts[key] + ":" + value
            else:
                opts[key] = value
        tag_for_apple(cc, codec.canonical_name, self.output)
        self.stream = stream
        self.passthrough = carry_over(self.output, stream, self._source)
        try:
            with quiet_library_logs(name, opts):
                cc.options = opts
                cc.open()
        except av.error.FFmpegError as e:
            if "nvenc" in name:
                raise MediaError(_NVENC_HINT) from e
            if frame.width % (1 << out.log2_chroma[0]) or frame.height % (1 << out.log2_chroma[1]):
                raise MediaError(
                    f"{name} cannot encode {frame.width}x{frame.height} as {pix_fmt}: chroma subsampling needs "
                    f"a width and height divisible by {1 << out.log2_chroma[0]} and {1 << out.log2_chroma[1]}; "
                    "choose a size that is, or a codec that takes odd sizes such as --codec ffv1") from e
            raise open_failed(name, opts, cfg) from e
        check_unused(name, cc, cfg, crf_key)
        self._pix_fmt = pix_fmt
        self._work_fmt = work.name

    # -- data ---------------------------------------------------------------------------------
    def encode(self, frame: YuvFrame) -> None:
        """Encode one upscaled frame (its ``pts``/``time_base`` are kept exactly)."""
        vf = av.VideoFrame(*self.size, self._work_fmt)
        dtype = frame.planes[0].dtype
        planes = frame.planes
        if any(self.pad):
            planes = (np.pad(planes[0], ((0, self.pad[1]), (0, self.pad[0])), mode="edge"), *planes[1:])
        for plane, data in zip(vf.planes, planes):
            dst = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
            dst[:, : plane.width] = data
        c = frame.color
        vf.color_range, vf.colorspace, vf.color_primaries, vf.color_trc = c.range, c.space, c.primaries, c.trc
        if self._pix_fmt != self._work_fmt:
            vf = vf.reformat(format=self._pix_fmt)
        vf.pts = frame.pts
        vf.time_base = frame.time_base
        self._mux_video(self.stream.encode(vf))
        self.frames += 1

    def mux(self, packet: av.Packet) -> None:
        """Write a passthrough packet of the input (dropped streams are ignored)."""
        self.passthrough.mux(packet)

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for p in packets:
            self._muxer.mux(p)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        self._mux_video(self.stream.encode(None))
        self.passthrough.flush()
        self.output.close()

    def abort(self) -> None:
        """Close without finishing (the caller deletes the file)."""
        try:
            self.output.close()
        except Exception:  # noqa: BLE001 - best effort on an error path
            pass


def carry_over(output: av.container.OutputContainer, video: av.video.stream.VideoStream,
               source: SourceInfo) -> Passthrough:
    """What an output takes from its source besides the picture: the video's rotation, tags
    and timecode, the global tags and chapters, and the other streams (before the header is
    written). Shared by :class:`Encoder` and the join of segment parts.

    Returns:
        The passthrough of the source's other streams into ``output``.
    """
    if source.rotation:
        video.set_display_rotation(source.rotation)
    video.metadata.update(source.video_tags)
    if source.timecode:  # same frame rate, so the start timecode still holds
        video.metadata["timecode"] = source.timecode
    passthrough = Passthrough(output, list(source.streams), source.window)
    output.metadata.update(source.metadata)
    if source.chapters:
        output.set_chapters(source.chapters)
    return passthrough


def frame_format_name(frame: YuvFrame) -> str:
    """Planar pixel format name of a :class:`YuvFrame`."""
    if frame.gray:
        return "gray" if frame.bit_depth == 8 else f"gray{frame.bit_depth}le"
    kind = {(1, 1): "420", (1, 0): "422", (0, 0): "444", (0, 1): "440", (2, 0): "411", (2, 2): "410"}[
        frame.log2_chroma
    ]
    return f"yuv{kind}p" if frame.bit_depth == 8 else f"yuv{kind}p{frame.bit_depth}le"
