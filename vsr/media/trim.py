"""A :class:`~vsr.config.TimeRange` applied to one open input: seek, keep or drop, shift.

The rules (see docs/time-ranges.md):

- Video is frame-exact: a decoded frame is kept when ``start <= t < end``, ``t`` its
  presentation time counted from the input's start time (FFmpeg's ``-ss``/``-to`` clock).
- A seekable file is entered at a keyframe at or before ``start``, checked after the seek:
  the first video keyframe demuxed must be presented no later than ``start`` (then every
  frame from it on decodes right, the leading frames of open GOPs included) and every
  audio stream's first packet must start no later than ``start`` (for a deinterlaced stream
  the keyframe must come strictly before it: bwdif reads the previous frame); else the seek goes back
  further (1 s, 2 s, 4 s ...), and at last to the beginning. Pipes and live inputs read
  from the beginning and drop.
- Copied streams are cut at packet boundaries: an audio or data packet is kept when its
  start time lies in the range (the first one starts less than one audio frame after
  ``start``); a subtitle is kept when it is shown during the range, its start clamped to
  ``start``. A re-encoded audio stream also gets the last packets before the start as
  :class:`~vsr.media.streams.Preroll` and is cut to the sample by its encoder.
- Every kept timestamp moves back by the input's start time plus ``start``, so the output
  starts at zero.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from typing import Any, Callable

import av

from vsr.config import TimeRange, seconds_text
from vsr.errors import MediaError
from vsr.media.streams import Preroll
from vsr.media.timestamps import DECODE_ORDER_FORMATS

__all__ = ["Trim", "enter_range", "timeline_zero"]

log = logging.getLogger(__name__)

# after a seek, packets are read (and held) to find the first video keyframe and audio packets,
# up to this far past the start or this many
_PROBE_SECONDS = 2
_PROBE_PACKETS = 2000
_DRAIN_SECONDS = 2  # after the video's end, demux this much further for copied streams' late packets
# elementary-stream demuxers, whose duration FFmpeg guesses from the bit rate
_ESTIMATED = {"h264", "hevc", "vvc", "mpegvideo", "m4v", "cavsvideo", "vc1", "mjpeg", "rawvideo", "obu", "ivf"}
_PREROLL_PACKETS = 3  # audio packets before the start that prime a re-encoding decoder
_SUBTITLE_PREROLL = 30  # seconds demuxed (not decoded) before the start for subtitles shown across it


def timeline_zero(container: av.container.InputContainer) -> Fraction:
    """Where a :class:`~vsr.config.TimeRange`'s clock starts, in seconds on the streams'
    timestamps: the input's start time (FFmpeg's, to the microsecond), 0 when unknown. A frame
    at ``pts`` is at ``pts * time_base - timeline_zero(container)`` on the range's clock."""
    return Fraction(container.start_time, av.time_base) if container.start_time is not None else Fraction(0)


Opened = tuple[av.container.InputContainer, av.video.stream.VideoStream]


def enter_range(opened: Opened, time_range: TimeRange, name: str, seekable: bool,
                reopen: Callable[[], Opened], before: bool = False) -> tuple[Opened, Trim, list[av.Packet]]:
    """Apply a range to a freshly opened input: check it, and seek a file to its start.

    Args:
        opened: ``(container, video stream)`` as opened.
        seekable: a file (pipes and network streams are read from the beginning).
        reopen: opens the input again, for when it must be read from the beginning after all.
        before: see :class:`Trim`.

    Returns:
        ``(opened, trim, packets)``: the input to read (``opened`` or a new one), its
        :class:`Trim`, and the packets already demuxed that are to be processed first.

    Raises:
        MediaError: the range starts past the input's end.
    """
    trim = Trim(*opened, time_range, name, before)
    trim.check()
    packets = trim.seek() if seekable else []
    if packets is None:  # from the beginning after all: a fresh demuxer is surely there
        opened[0].close()
        opened = reopen()
        trim = Trim(*opened, time_range, name, before)
    return opened, trim, packets or []


class Trim:
    """Where one input's range lies on its streams' clock, and what to keep of it.

    Args:
        container: the open input.
        video: its video stream.
        time_range: the range (``start``/``end`` from the input's start time).
        name: the input's name, for messages.
        before: at least one frame before the start must be decoded too: a deinterlacer
            looks at the previous frame, so the first frame kept comes out as in a whole run.
    """

    def __init__(self, container: av.container.InputContainer, video: av.video.stream.VideoStream,
                 time_range: TimeRange, name: str, before: bool = False) -> None:
        self.container, self.video, self.range, self.name = container, video, time_range, name
        self._before_start = before  # decode from a keyframe strictly before the start (deinterlacing)
        zero = timeline_zero(container)
        self.zero = zero  # the input's start time, seconds on the streams' clock
        self.start = zero + (time_range.start or 0)  # both on the streams' clock; output time zero
        self._low = None if time_range.start is None else self.start  # no start: nothing cut before
        self.end = None if time_range.end is None else zero + time_range.end
        self.video_done = False  # a frame at or after the end was decoded
        self.kept = 0  # video frames kept
        self._last: Fraction | None = None  # time of the last frame decoded, from the input's start
        self._held: dict[int, list[av.Packet]] = {}  # audio packets just before the start, per stream
        self._started: set[int] = set()  # audio streams whose first packet in the range went out
        self._video_from: Fraction | None = None  # video packets before this keyframe time are skipped
        self._seen: set[int] = set()  # copied streams that reached the end
        # AVI video is timed by decode order (vsr.media.timestamps): a frame is shown the decoder's
        # reordering delay after its decode time, which the parser's guess (one frame) misses for
        # H.264's B-pyramid: a seek by the guess could land one keyframe late and lose frames
        self._shown_after: int | None = None  # ticks, for decode-order video
        self._key_dts: int | None = None  # decode time of the keyframe the seek check accepted
        rate = video.guessed_rate or video.average_rate
        if container.format.name in DECODE_ORDER_FORMATS and rate and video.time_base:
            self._shown_after = video.codec_context.reorder_depth * max(1, round(1 / (rate * video.time_base)))

    # -- checks and estimates ----------------------------------------------------------------------
    def check(self) -> None:
        """Fail when the input is known to end before the range starts.

        Raises:
            MediaError: ``start`` at or past the input's duration.
        """
        if self.container.format.name in _ESTIMATED:  # a guess from the bit rate: decoding will tell
            return
        duration = self.duration()
        if duration is not None and (self.range.start or 0) >= duration:
            raise MediaError(f"{self.name}: --start {seconds_text(self.range.start or Fraction(0))} is past the end of "
                             f"the input ({seconds_text(duration)} long)")

    def duration(self) -> Fraction | None:
        """The input's duration in seconds, from its header (None: unknown, as for a pipe)."""
        if self.container.duration:
            return Fraction(self.container.duration, av.time_base)
        s = self.video
        if s.duration and s.time_base:
            return s.duration * s.time_base
        return None

    def estimate(self, frames: int, rate: Fraction | None) -> int:
        """Frames the range holds, estimated from the whole input's ``frames`` and ``rate`` (0: unknown)."""
        return self.range.frames_in(frames, rate, self.duration())

    # -- seeking -----------------------------------------------------------------------------------
    def seek(self) -> list[av.Packet] | None:
        """Seek a file to a keyframe at or before the start (see the module's rules).

        Returns:
            The packets demuxed to check the seek, to be processed first (in demux order); None
            when the input must be read from the beginning and the demuxer has moved (or a seek
            failed): the caller opens it again.
        """
        if not self.range.start:
            return []
        tb = self.video.time_base
        back, moved = Fraction(0), False
        while True:
            target = self.start - back - (tb if self._before_start else 0)
            if target <= self.zero:
                log.debug("%s: range starts within the first keyframe interval: reading from the beginning",
                          self.name)
                return None if moved else []  # a demuxer that has not seeked is still at the beginning
            try:
                self.container.seek(int(target / tb), stream=self.video, backward=True)
            except av.error.FFmpegError as e:  # raw elementary streams, say: read and drop
                log.debug("%s: seek to %s failed (%s): reading from the beginning", self.name, seconds_text(target), e)
                return None  # where a failed seek leaves the demuxer is anyone's guess
            moved = True
            packets, key = self._probe()
            if key is not None:
                log.debug("%s: seeked %s before the range's start", self.name, seconds_text(back))
                if self.container.streams.subtitles:
                    return self._subtitle_preroll(target, key)
                return packets
            back = max(Fraction(1), back * 2)

    def _subtitle_preroll(self, target: Fraction, key: Fraction) -> list[av.Packet] | None:
        """Seek :data:`_SUBTITLE_PREROLL` further back for the subtitles shown across the start;
        video packets are skipped, undecoded, up to the keyframe at ``key`` seconds."""
        early = target - _SUBTITLE_PREROLL
        if early <= self.zero:
            return None
        self.container.seek(int(early / self.video.time_base), stream=self.video, backward=True)
        self._video_from = key
        return []

    def skip_video(self, p: av.Packet) -> bool:
        """Whether a video packet comes before the keyframe decoding starts at (subtitle pre-roll)."""
        if self._video_from is None:
            return False
        if self._shown_after is not None:  # decode-order video: the clock dropped the parser's guess
            reached = p.is_keyframe and p.dts is not None and p.dts >= self._key_dts
        else:
            t = self._time(p)
            reached = p.is_keyframe and t is not None and t >= self._video_from
        if reached:
            self._video_from = None
            return False
        return True

    def _probe(self) -> tuple[list[av.Packet], Fraction | None]:
        """Demux after a seek until the first video keyframe and each audio stream's first
        packet are seen: the packets, and the keyframe's time when they start no later than
        the range (else None)."""
        audio = {s.index for s in self.container.streams.audio}
        packets: list[av.Packet] = []
        key_ok: bool | None = None
        key = None
        first_audio: dict[int, bool] = {}
        for p in self.container.demux():
            packets.append(p)
            t = self._time(p)
            if p.stream.index == self.video.index:
                if key_ok is None and p.is_keyframe and t is not None:
                    key_ok, key = (t < self.start if self._before_start else t <= self.start), t
                    self._key_dts = p.dts
                    if not key_ok:
                        break
            elif p.stream.index in audio and p.stream.index not in first_audio and t is not None:
                s = p.stream
                own_start = s.start_time * s.time_base if s.start_time is not None else None
                first_audio[p.stream.index] = t <= self.start or (own_start is not None and own_start >= self.start)
                if not first_audio[p.stream.index]:
                    break
            if key_ok is not None and len(first_audio) == len(audio):
                break
            if (t is not None and t > self.start + _PROBE_SECONDS) or len(packets) >= _PROBE_PACKETS:
                break  # no keyframe flags, or an audio stream that ends early: decide on what was seen
        return packets, key if key_ok and all(first_audio.values()) else None

    # -- keeping -----------------------------------------------------------------------------------
    def _time(self, p: av.Packet) -> Fraction | None:
        ts = p.pts if p.pts is not None else p.dts
        if self._shown_after is not None and p.stream.index == self.video.index and p.dts is not None:
            # shown no earlier than its decode time plus the delay; later where the parser says so
            # (an open GOP's keyframe after its leading frames, as MPEG-4's parser sees)
            ts = p.dts + self._shown_after if p.pts is None else max(p.pts, p.dts + self._shown_after)
        return None if ts is None or not p.time_base else ts * p.time_base

    def frame(self, pts: int | None, time_base: Fraction) -> tuple[bool, int | None]:
        """A decoded video frame's fate: ``(kept, output pts)``; sets :attr:`video_done` once
        a frame reaches the end.

        Args:
            pts: the frame's presentation timestamp in ``time_base`` units (None: kept, its
                time cannot be told).
        """
        if pts is None:
            self.kept += 1
            return True, None
        t = pts * time_base
        self._last = t - self.zero
        if self.end is not None and t >= self.end:
            self.video_done = True
            return False, None
        if self._before(t):
            return False, None
        self.kept += 1
        return True, pts - round(self.start / time_base)

    def inside(self, pts: int | None, time_base: Fraction | None) -> bool:
        """Whether a frame at ``pts`` lies in the range (None or no time base: it may)."""
        if pts is None or not time_base:
            return True
        t = pts * time_base
        return not self._before(t) and (self.end is None or t < self.end)

    def _before(self, t: Fraction) -> bool:
        return self._low is not None and t < self._low

    def take(self, p: av.Packet) -> list[av.Packet | Preroll]:
        """What to pass on for a copied stream's packet: nothing, the packet with its output
        timestamps, or for an audio stream's first packet in the range, the last
        :data:`_PREROLL_PACKETS` before it as :class:`~vsr.media.streams.Preroll` first (a
        re-encoding decoder is primed with them; copies never write them)."""
        index = p.stream.index
        if p.stream.type == "audio" and self._low is not None and index not in self._started:
            if not self._keep(p):
                t = self._time(p)
                if t is not None and self._before(t):
                    held = self._held.setdefault(index, [])
                    held[:] = [*held[-(_PREROLL_PACKETS - 1):], p]
                return []
            self._started.add(index)
            held = self._held.pop(index, [])
            for h in held:
                self._shift(h)
            return [*map(Preroll, held), p]
        return [p] if self._keep(p) else []

    def _shift(self, p: av.Packet) -> None:
        shift = round(self.start / p.time_base)
        p.pts = p.pts - shift if p.pts is not None else None
        p.dts = p.dts - shift if p.dts is not None else None

    def _keep(self, p: av.Packet) -> bool:
        """Whether a copied stream's packet is kept; a kept one gets its output timestamps."""
        t = self._time(p)
        if t is None:
            return False
        tb = p.time_base
        if self.end is not None and t >= self.end:
            self._seen.add(p.stream.index)
            return False
        if p.stream.type == "subtitle":
            shown_until = t + (p.duration or 0) * tb
            if self._low is not None and shown_until <= self._low:
                return False
            if self._before(t):  # shown from before the range: from its start, for what is left
                cut = round((self.start - t) / tb)
                p.pts = p.pts + cut if p.pts is not None else None
                p.dts = p.dts + cut if p.dts is not None else None
                p.duration = max(1, (p.duration or 0) - cut)
        elif self._before(t):
            return False
        self._shift(p)
        return True

    def drained(self, p: av.Packet) -> bool:
        """After the video's end: whether demuxing can stop at packet ``p`` (every audio
        stream got past the end, or the demuxer is well past it)."""
        t = self._time(p)
        if t is not None and self.end is not None and t >= self.end + _DRAIN_SECONDS:
            return True
        return {s.index for s in self.container.streams.audio} <= self._seen

    # -- what the output's header takes from the input ----------------------------------------------
    def chapters(self, chapters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """PyAV chapters moved to the output's clock and clipped to the range (those outside dropped)."""
        length = None if self.end is None else self.end - self.start
        out = []
        for ch in chapters:
            tb = ch["time_base"]
            a, b = ch["start"] * tb - self.start, ch["end"] * tb - self.start
            if b <= 0 or (length is not None and a >= length):
                continue
            a, b = max(a, Fraction(0)), b if length is None else min(b, length)
            out.append({**ch, "start": round(a / tb), "end": round(b / tb)})
        return out

    def window(self) -> tuple[Fraction | None, Fraction | None]:
        """``(start, end)`` of the range on the output's clock (None: open on that side)."""
        return (None if self._low is None else Fraction(0),
                None if self.end is None else self.end - self.start)

    def timecode(self, timecode: str | None, rate: Fraction | None) -> str | None:
        """The start timecode moved on to the first frame kept (``HH:MM:SS:FF``, non-drop-frame; a
        drop-frame one, ``HH:MM:SS;FF``, is left as it is with a warning)."""
        start = self.range.start or 0
        if not timecode or not start or not rate:
            return timecode
        parts = timecode.replace(";", ":").split(":")
        fps = round(Fraction(rate))
        if ";" in timecode or len(parts) != 4 or not all(x.isdigit() for x in parts) or fps < 1:
            log.warning("%s: start timecode %s kept as it is (not moved to the range's start)", self.name, timecode)
            return timecode
        h, m, sec, f = map(int, parts)
        n = ((h * 60 + m) * 60 + sec) * fps + f + math.ceil(start * Fraction(rate))  # the first frame kept
        n %= 24 * 3600 * fps
        return f"{n // (3600 * fps):02d}:{n // (60 * fps) % 60:02d}:{n // fps % 60:02d}:{n % fps:02d}"

    def no_frames(self) -> MediaError:
        """The error for a range that held no video frame."""
        if self._last is not None and self._last < (self.range.start or 0):
            return MediaError(f"{self.name}: --start {seconds_text(self.range.start or Fraction(0))} is past the end of "
                              f"the input (its last frame is at {seconds_text(self._last)})")
        return MediaError(f"{self.name}: the range {self.range} holds no video frame of the input")
