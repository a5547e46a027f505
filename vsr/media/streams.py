"""Streams copied from input to output without re-encoding (audio, subtitles, attachments).

When the output container cannot hold a stream as it is, text subtitles are
converted cheaply between SubRip, ASS and mov_text (only the packet payload
changes); audio is re-encoded (AAC, Opus for WebM: :mod:`vsr.media.transcode`); anything
else is dropped with a warning. A timecode track is rewritten from
the video's ``timecode`` tag (see :func:`source_timecode`); other data tracks (KLV
metadata of surveillance and aerial footage, ID3) are copied into MPEG-TS outputs and
dropped with a warning elsewhere.
"""

from __future__ import annotations

import logging
import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import av

from vsr.media.timestamps import MonotonicMuxer
from vsr.media.transcode import AudioTranscode

__all__ = ["Passthrough", "Preroll", "source_timecode"]

log = logging.getLogger(__name__)

_TEXT_SUBS = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}
# preferred text subtitle codec per output container family
_TARGET_SUB = {"mp4": "mov_text", "mov": "mov_text", "matroska": "subrip", "webm": "webvtt"}
# codecs the MPEG-TS muxer gives a stream type; it writes anything else as a "private data"
# stream that no demuxer reads back as what it was (DVD and PGS subtitles, WMA, AMR...)
_TS_CODECS = {"mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "dts", "truehd", "opus", "s302m",
              "dvb_subtitle", "dvb_teletext", "arib_caption"}
# MP4-family muxers: they take PCM only as ISO/IEC 23003-5 'ipcm', which few players read, and
# fail at close on channels of no order (Matroska's PCM): re-encoded instead, as ffmpeg would
_MP4_FAMILY = {"mp4", "3gp", "3g2", "ipod", "psp", "ismv", "f4v"}
# codecs the MOV (QuickTime) muxer takes as streams and then refuses at the header ("only supported in MP4")
_NOT_IN_MOV = {"flac", "opus"}
_ASS_TAGS = re.compile(r"\{[^}]*\}")
_HTML_TAGS = re.compile(r"</?[a-zA-Z][^>]*>")


@dataclass(frozen=True)
class Preroll:
    """An input packet from just before a time range's start (:mod:`vsr.media.trim`): it primes
    the decoder of a re-encoded stream, whose output from it is dropped; a copied stream never
    writes it."""

    packet: av.Packet


def _plain_text(codec: str, payload: bytes) -> str:
    """The visible text of one subtitle packet."""
    if codec == "mov_text":
        (n,) = struct.unpack_from(">H", payload) if len(payload) >= 2 else (0,)
        return payload[2 : 2 + n].decode("utf-8", "replace")
    text = payload.decode("utf-8", "replace")
    if codec in ("ass", "ssa"):
        # Matroska ASS packet: ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text
        text = text.split(",", 8)[-1]
        text = _ASS_TAGS.sub("", text).replace("\\N", "\n").replace("\\n", "\n")
    return _HTML_TAGS.sub("", text).strip()


def _encoder_payload(codec: str, text: str) -> bytes:
    data = text.encode("utf-8")
    if codec == "mov_text":
        return struct.pack(">H", len(data)) + data
    return data


def _seconds(pts: int | None, time_base) -> str:
    return "?" if pts is None or not time_base else f"{float(pts * time_base):.3f}"


def _copy_tags(src: av.stream.Stream, out: av.stream.Stream) -> None:
    """Language, title and disposition (default, forced...): what players pick tracks by."""
    for key in ("language", "title"):
        if key in src.metadata:
            out.metadata[key] = src.metadata[key]
    out.disposition = src.disposition


def _codec_id_name(s: av.stream.Stream) -> str:
    """The codec's canonical name (``dvd_subtitle``, not the decoder's ``dvdsub``), or ``?``."""
    cc = s.codec_context
    return cc.codec.canonical_name if cc is not None and cc.codec is not None else (s.name or "?")


def _container_holds(output: av.container.OutputContainer, s: av.stream.Stream) -> bool:
    """False where the muxer would accept the stream but write it unreadable or fail at the header
    (MPEG-TS private data, PCM in MP4, FLAC and Opus in MOV; data streams have their own rule)."""
    names = set(output.format.name.split(","))
    if s.type in ("audio", "subtitle") and "mpegts" in names:
        return _codec_id_name(s) in _TS_CODECS
    if s.type == "audio" and names & _MP4_FAMILY:
        return not _codec_id_name(s).startswith("pcm_")
    if s.type == "audio" and "mov" in names:
        return _codec_id_name(s) not in _NOT_IN_MOV
    return True


def source_timecode(container: av.container.InputContainer, video: av.stream.Stream) -> str | None:
    """The start timecode (``HH:MM:SS:FF``) of a source: the video stream's tag, else a
    timecode track's, else the container's; None if it has none."""
    for tags in [video.metadata, *(s.metadata for s in container.streams if s.type == "data"), container.metadata]:
        found = next((v for k, v in tags.items() if k.lower() == "timecode" and v), None)  # Matroska: TIMECODE
        if found:
            return found
    return None


class Passthrough:
    """Maps the input's non-video streams onto an output container.

    Args:
        output: the output container (before its header is written).
        streams: input streams to carry over.
        window: a time range's ``(start, end)`` on the output's clock, which re-encoded audio
            is cut to sample-exact (copies are cut at packet boundaries by the decoder).
    """

    def __init__(self, output: av.container.OutputContainer, streams: list[av.stream.Stream],
                 window: tuple[Fraction | None, Fraction | None] | None = None) -> None:
        self.output = output
        self._window = window
        self._muxer = MonotonicMuxer(output)  # copied timestamps that step back are moved on, not fatal
        self._damaged: set[int] = set()  # output streams that lost a damaged packet (warned once)
        self._preroll: dict[int, av.Packet] = {}  # input stream index -> audio packet hidden by an edit list
        self._map: dict[int, tuple[av.stream.Stream, Callable[[bytes], bytes] | None]] = {}
        self._transcode: dict[int, AudioTranscode] = {}
        family = next((f for f in _TARGET_SUB if f in output.format.name.split(",")), None)
        for s in streams:
            if s.discard == av.stream.Discard.all:
                # hidden by the demuxer: an MP4/MOV chapter text track, whose content is the
                # container's chapters (copied as chapters); as a stream the MP4 muxer refuses it
                log.debug("stream %d (%s) skipped: the demuxer discards it", s.index, s.type)
                continue
            if s.type == "data" and "timecode" in s.metadata:
                # a timecode track (tmcd) comes back from the video stream's "timecode" tag, which
                # the MOV/MP4 muxers turn into a new track
                log.info("stream %d (timecode track): kept as the video's timecode tag", s.index)
                continue
            if s.type == "data" and s.name == "dvd_nav_packet":
                log.info("stream %d (DVD navigation packets) dropped: menus and seeking data of the disc", s.index)
                continue
            if s.type == "data" and not (s.name not in (None, "none") and "mpegts" in output.format.name):
                # MPEG-TS carries data streams FFmpeg knows (KLV, ID3, SCTE-35); MP4/MOV refuse them
                # or write them unreadable, Matroska holds none (camera telemetry, Apple metadata...)
                log.warning("stream %d (data %s) dropped: only MPEG-TS outputs carry data tracks", s.index,
                            s.name or s.metadata.get("handler_name", "?"))
                continue
            if s.type == "attachment" and "matroska" not in output.format.name.split(","):
                # fonts and covers of MKV files: only the Matroska muxer writes attachments (others fail)
                log.warning("stream %d (attachment %s) dropped: only Matroska holds attachments", s.index,
                            s.metadata.get("filename", "?"))
                continue
            try:
                if _container_holds(output, s):
                    out = output.add_stream_from_template(s)
                    _copy_tags(s, out)
                    self._map[s.index] = (out, None)
                    continue
            except (ValueError, av.error.FFmpegError):
                pass
            src = s.codec_context.name if s.codec_context else "?"
            if s.type == "audio" and self._reencode(s, src):
                continue
            if s.type == "subtitle" and src in _TEXT_SUBS and family:
                target = _TARGET_SUB[family]
                try:
                    out = output.add_mux_stream(target)
                except (ValueError, av.error.FFmpegError):
                    out = None
                if out is not None:
                    out.time_base = s.time_base
                    _copy_tags(s, out)

                    def convert(payload: bytes, src=src, target=target) -> bytes:
                        return _encoder_payload(target, _plain_text(src, payload))

                    self._map[s.index] = (out, convert)
                    log.warning("stream %d: %s subtitles converted to %s for %s", s.index, src, target,
                                output.format.name)
                    continue
            log.warning("stream %d (%s %s) dropped: the %s container cannot hold it", s.index, s.type, src,
                        output.format.name.split(",")[0])

    def _reencode(self, s: av.stream.Stream, src: str) -> bool:
        """Keep an audio stream the container cannot hold by encoding it again; False if even that fails."""
        try:
            t = AudioTranscode(self.output, s, self._window)
        except (ValueError, av.error.FFmpegError) as e:
            log.debug("stream %d: no re-encoding either (%s)", s.index, e)
            return False
        _copy_tags(s, t.stream)
        self._transcode[s.index] = t
        log.warning("stream %d (audio %s) re-encoded to %s: the %s container cannot hold it as it is", s.index,
                    src, t.codec, self.output.format.name.split(",")[0])
        return True

    def __contains__(self, index: int) -> bool:
        return index in self._map or index in self._transcode

    def flush(self) -> None:
        """Write what re-encoded streams still hold (before the output is closed)."""
        for t in self._transcode.values():
            t.flush()

    def mux(self, packet: av.Packet | Preroll) -> None:
        """Write one input packet to its output stream (ignored if its stream was dropped); a
        :class:`Preroll` only primes a re-encoding decoder.

        Packets the input's edit list hides (sound before an MP4's first picture, when the list
        starts mid-GOP) are dropped, but for the last audio packet before the picture: the
        decoder's priming (AAC's 1024 samples), which the edit list hides in MP4 outputs and
        Matroska starts with. Without this, Matroska would play the hidden sound first and
        start the picture that much later.
        """
        if isinstance(packet, Preroll):
            t = self._transcode.get(packet.packet.stream.index)
            if t is not None and packet.packet.size:
                t.mux(packet.packet, prime=True)
            return
        index = packet.stream.index
        if packet.is_discard:
            if packet.stream.type == "audio" and index in self:
                self._preroll[index] = packet  # only the last one before the edit's start is written
            return
        held = self._preroll.pop(index, None)
        if held is not None:
            self._write(held)
        self._write(packet)

    def _write(self, packet: av.Packet) -> None:
        if packet.stream.index in self._transcode:
            if packet.size:
                self._transcode[packet.stream.index].mux(packet)
            return
        entry = self._map.get(packet.stream.index)
        if entry is None or packet.size == 0:
            return
        out, convert = entry
        if convert is not None:
            new = av.Packet(convert(bytes(packet)))
            new.pts, new.dts, new.duration, new.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
            packet = new
        packet.stream = out
        pts, tb = packet.pts, packet.time_base  # muxing blanks the packet: kept for the warning only
        try:
            self._muxer.mux(packet)
        except av.error.InvalidDataError as e:  # damaged beyond what the muxer's filters take (ADTS AAC)
            if out.index not in self._damaged:  # once per stream
                log.warning("%s stream %d of the output: a damaged packet at %s s was dropped (%s)", out.type,
                            out.index, _seconds(pts, tb), e.strerror or e)
            self._damaged.add(out.index)
