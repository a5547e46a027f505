"""Timestamps repaired as FFmpeg's command line repairs them, on the way in and on the way out.

Input side (:class:`InputClock`, used by the decoder):

- **Discontinuities.** Formats that allow timestamp resets (MPEG-TS, MPEG-PS: FFmpeg's
  ``AVFMT_TS_DISCONT``) are shifted to follow on when a stream's decode time steps back by
  more than 0.1 s or jumps ahead by more than 10 s, as FFmpeg's ``-dts_delta_threshold``
  handling does. Two recordings joined byte-wise (as recorders and ``cat`` make them) then
  play one after the other instead of overlapping. Each stream takes on the offset of a reset
  when its own times reset (the demuxer hands out the last packets before a join after the
  first ones behind it), and all take the same offset, so sound stays with the picture.
- **Decode-order containers.** AVI stores one chunk per frame time and no presentation times;
  the presentation times its parser guesses are wrong for B-frames (and for DivX/Xvid
  "packed" B-frames, which the decoder unpacks with FFmpeg's ``mpeg4_unpack_bframes``), so
  frames there are timed by decode time, which the decoder's reordering delay turns into
  presentation order.
- **Frame times.** Each decoded frame gets FFmpeg's "best effort" timestamp: its presentation
  time, unless those have gone wrong (non-increasing) more often than the decode times.

Output side (:class:`MonotonicMuxer`): every packet written gets a decode time after the
previous one of its stream (equal allowed where the muxer allows it), with its presentation
time raised to match, as FFmpeg's muxing does; one warning per stream.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av

__all__ = ["InputClock", "MonotonicMuxer", "Unpacker", "DECODE_ORDER_FORMATS"]

log = logging.getLogger(__name__)

# demuxers whose video packets carry decode times only (the parser's presentation times are guesses)
DECODE_ORDER_FORMATS = {"avi"}
_BACK = Fraction(1, 10)  # seconds a decode time may step back before it counts as a reset
_AHEAD = Fraction(10)  # seconds a decode time may jump ahead before it counts as a reset
_TS_DISCONT = av.format.Flags.ts_discont.value
_TS_NONSTRICT = av.format.Flags.ts_nonstrict.value


def _ticks(seconds: Fraction, time_base: Fraction) -> int:
    """``seconds`` in ``time_base`` units, rounded half away from zero as FFmpeg's rescaling does."""
    q = Fraction(seconds) / time_base
    return int(q + Fraction(1, 2)) if q >= 0 else -int(-q + Fraction(1, 2))


class InputClock:
    """Timestamps of one input container's packets and decoded frames, repaired.

    Args:
        container: the open input.
        video: its decoded video stream.
        name: the input's name, for messages.
    """

    def __init__(self, container: av.container.InputContainer, video: av.video.stream.VideoStream, name: str) -> None:
        self.name = name
        self.video = video
        self._shown: int | None = None  # the last frame's presentation time out
        self.discont = bool(container.format.flags & _TS_DISCONT)
        self.decode_order = container.format.name in DECODE_ORDER_FORMATS
        self._offsets = [Fraction(0)]  # seconds added to packets: one entry per reset
        self._segment: dict[int, int] = {}  # stream index -> the offset it is on
        self._next: dict[int, Fraction] = {}  # stream index -> expected next decode time, seconds
        self._faulty_pts = self._faulty_dts = 0
        self._last_pts: int | None = None
        self._last_dts: int | None = None

    def packet(self, packet: av.Packet, video: bool = False) -> None:
        """Shift ``packet`` by its stream's offset (updated at a reset), in place.

        Args:
            packet: a demuxed packet with its stream's time base.
            video: the decoded video stream's packet (its presentation time is dropped in
                decode-order containers).
        """
        if video and self.decode_order:
            packet.pts = None
        if not self.discont:  # nothing resets there: no offsets to keep or apply
            return
        if packet.dts is None or not packet.time_base:
            return
        tb = packet.time_base
        index = packet.stream.index
        segment = self._segment.get(index, 0)
        when = packet.dts * tb + self._offsets[segment]
        expected = self._next.get(index)
        if self.discont and expected is not None and (when + _BACK < expected or when > expected + _AHEAD):
            # each stream follows on once its own time resets: a TS demuxer hands out the last
            # packets before a join after the first ones behind it
            if segment + 1 < len(self._offsets):  # another stream found this reset first
                segment += 1
            else:
                self._offsets.append(self._offsets[segment] + expected - when)
                segment = len(self._offsets) - 1
                if segment == 1:
                    log.warning("%s: timestamps reset at %.2f s (recordings joined?): the rest follows on",
                                self.name, float(expected))
            self._segment[index] = segment
            when = packet.dts * tb + self._offsets[segment]
        if self._offsets[segment]:
            shift = round(self._offsets[segment] / tb)
            packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
        self._next[index] = when + (packet.duration or 0) * tb

    def frame_pts(self, frame: av.VideoFrame) -> int | None:
        """The frame's best-effort presentation time (``frame.time_base`` units), or None."""
        pts, dts = frame.pts, frame.dts
        if pts is not None:
            self._faulty_pts += self._last_pts is not None and pts <= self._last_pts
            self._last_pts = pts
        if dts is not None:
            self._faulty_dts += self._last_dts is not None and dts <= self._last_dts
            self._last_dts = dts
        if pts is not None and (self._faulty_pts <= self._faulty_dts or dts is None):
            return pts
        return dts


    def shown(self, pts: int | None) -> int | None:
        """The presentation time (video time base) the next frame out gets: ``pts``, unless it
        is missing or not after the last frame's: then the last plus one frame (the first: 0;
        None with no frame rate known)."""
        if pts is None or (self._shown is not None and pts <= self._shown):
            rate = self.video.guessed_rate or self.video.average_rate
            if self._shown is None:
                pts = 0
            else:
                pts = self._shown + max(1, round(1 / (rate * self.video.time_base))) if rate else None
        self._shown = pts
        return pts


class Unpacker:
    """MPEG-4 Part 2 video packets through FFmpeg's ``mpeg4_unpack_bframes`` (DivX/Xvid packed
    B-frames back to one frame per packet; other MPEG-4 streams pass unchanged); other codecs'
    packets pass as they are.

    Args:
        stream: the input video stream.
        name: the input's name, for messages.
    """

    def __init__(self, stream: av.video.stream.VideoStream, name: str) -> None:
        self.name = name
        self._bsf = None
        if stream.codec_context.name == "mpeg4":
            import av.bitstream

            self._bsf = av.bitstream.BitStreamFilterContext("mpeg4_unpack_bframes", stream)

    def __call__(self, packet: av.Packet) -> list[av.Packet]:
        """The packets to decode for ``packet`` (the end-of-stream packet drains the filter and
        is kept last, so the decoder drains too)."""
        if self._bsf is None:
            return [packet]
        end = not packet.size
        try:
            out = self._bsf.filter(None if end else packet)  # takes the packet's data
        except av.error.FFmpegError as e:
            log.warning("%s: a packed B-frame could not be unpacked (%s)", self.name, e)
            return []
        return out + [packet] if end else out


class MonotonicMuxer:
    """Writes packets to ``output`` with decode times that never step back.

    Args:
        output: the output container.
    """

    def __init__(self, output: av.container.OutputContainer) -> None:
        self.output = output
        self._strict = not (output.format.flags & _TS_NONSTRICT)
        self._last: dict[int, Fraction] = {}  # output stream index -> last decode time written, seconds
        self._warned: set[int] = set()

    def mux(self, packet: av.Packet) -> None:
        """Write ``packet`` (its ``stream`` set to an output stream), repaired where needed."""
        stream = packet.stream
        tb = packet.time_base
        index = stream.index
        if packet.dts is not None and tb:
            last = self._last.get(index)
            out_tb = stream.time_base
            if last is not None and out_tb:
                # in the output's units, where the muxer compares (the header is written by now)
                tick = Fraction(out_tb) if self._strict else Fraction(0)
                dts = _ticks(packet.dts * tb, out_tb)
                pts = None if packet.pts is None else _ticks(packet.pts * tb, out_tb)
                least = _ticks(last + tick, out_tb)
                if pts is not None and pts < dts:  # impossible order (damaged input): the middle guess
                    pts = dts = sorted((pts, dts, least))[1]
                if dts < least:
                    if index not in self._warned:
                        self._warned.add(index)
                        log.warning("%s stream %d of the output: timestamps step back (%.3f s after %.3f s): "
                                    "moved forward, as FFmpeg does", stream.type, index, float(dts * out_tb),
                                    float(last))
                    if pts is not None and pts >= dts:
                        pts = max(pts, least)
                    dts = least
                packet.dts, packet.pts = dts, pts
                if packet.duration:
                    packet.duration = _ticks(packet.duration * tb, out_tb)
                packet.time_base = out_tb
                tb = out_tb
            self._last[index] = packet.dts * tb
        self.output.mux(packet)
