"""A :class:`~vsr.config.TimeRange` applied to one open input: seek, keep or drop, shift.

The rules (see docs/time-ranges.md):

- Video is frame-exact: a decoded frame is kept when ``start <= t < end``, ``t`` its
  presentation time counted from the input's start time (FFmpeg's ``-ss``/``-to`` clock).
- A seekable file is entered at a keyframe at or before ``start``, checked after the seek:
  the first video keyframe demuxed must be presented no later than ``start`` (then every
  frame from it on decodes right, the leading frames of open GOPs included) and every
  audio stream's first packet must start no later than ``start``; else the seek goes back
  further (1 s, 2 s, 4 s ...), and at last to the beginning. Pipes and live inputs read
  from the beginning and drop.
- Copied streams are cut at packet boundaries: an audio or data packet is kept when its
  start time lies in the range (the first one starts less than one audio frame after
  ``start``); a subtitle is kept when it is shown during the range, its start clamped to
  ``start``.
- Every kept timestamp moves back by the input's start time plus ``start``, so the output
  starts at zero.
"""

from __future__ import annotations

import logging
from fractions import Fraction
import av

from vsr.config import TimeRange
from vsr.errors import MediaError

__all__ = ["Trim"]

log = logging.getLogger(__name__)

_PROBE_PACKETS = 4000  # packets read after a seek to find the first video keyframe and audio packets
_DRAIN_SECONDS = 2  # after the video's end, demux this much further for copied streams' late packets


def _seconds(t: Fraction) -> str:
    return f"{float(t):.6g} s"


class Trim:
    """Where one input's range lies on its streams' clock, and what to keep of it.

    Args:
        container: the open input.
        video: its video stream.
        time_range: the range (``start``/``end`` from the input's start time).
        name: the input's name, for messages.
    """

    def __init__(self, container: av.container.InputContainer, video: av.video.stream.VideoStream,
                 time_range: TimeRange, name: str) -> None:
        self.container, self.video, self.range, self.name = container, video, time_range, name
        zero = Fraction(container.start_time, av.time_base) if container.start_time is not None else Fraction(0)
        self.zero = zero  # the input's start time, seconds on the streams' clock
        self.start = zero + (time_range.start or 0)  # both on the streams' clock; output time zero
        self._low = None if time_range.start is None else self.start  # no start: nothing cut before
        self.end = None if time_range.end is None else zero + time_range.end
        self.video_done = False  # a frame at or after the end was decoded
        self.kept = 0  # video frames kept
        self._last: Fraction | None = None  # time of the last frame decoded, from the input's start
        self._drain_until: Fraction | None = None
        self._seen: set[int] = set()  # copied streams that reached the end

    # -- checks and estimates ----------------------------------------------------------------------
    def check(self) -> None:
        """Fail when the input is known to end before the range starts.

        Raises:
            MediaError: ``start`` at or past the input's duration.
        """
        duration = self.duration()
        if duration is not None and (self.range.start or 0) >= duration:
            raise MediaError(f"{self.name}: --start {_seconds(self.range.start or Fraction(0))} is past the end of "
                             f"the input ({_seconds(duration)} long)")

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
    def seek(self) -> list[av.Packet]:
        """Seek a file to a keyframe at or before the start (see the module's rules).

        Returns:
            The packets demuxed to check the seek, to be processed first (in demux order).
        """
        if not self.range.start:
            return []
        tb = self.video.time_base
        back = Fraction(0)
        while True:
            target = self.start - back
            if target <= self.zero:
                self.container.seek(0)  # the very beginning (in AV_TIME_BASE, no stream)
                log.debug("%s: range starts within the first keyframe interval: reading from the beginning",
                          self.name)
                return []
            try:
                self.container.seek(int(target / tb), stream=self.video, backward=True)
            except av.error.FFmpegError as e:
                log.debug("%s: seek to %s failed (%s): reading from the beginning", self.name, _seconds(target), e)
                self.container.seek(0)
                return []
            packets, good = self._probe()
            if good:
                log.debug("%s: seeked %s before the range's start", self.name, _seconds(back))
                return packets
            back = max(Fraction(1), back * 2)

    def _probe(self) -> tuple[list[av.Packet], bool]:
        """Demux after a seek until the first video keyframe and each audio stream's first
        packet are seen; whether they start no later than the range."""
        audio = {s.index for s in self.container.streams.audio}
        packets: list[av.Packet] = []
        key_ok: bool | None = None
        first_audio: dict[int, bool] = {}
        for p in self.container.demux():
            packets.append(p)
            t = self._time(p)
            if p.stream.index == self.video.index:
                if key_ok is None and p.is_keyframe and t is not None:
                    key_ok = t <= self.start
                    if not key_ok:
                        break
            elif p.stream.index in audio and p.stream.index not in first_audio and t is not None:
                s = p.stream
                own_start = s.start_time * s.time_base if s.start_time is not None else None
                first_audio[p.stream.index] = t <= self.start or (own_start is not None and own_start >= self.start)
                if not first_audio[p.stream.index]:
                    break
            if key_ok is not None and (len(first_audio) == len(audio) or t is not None and t > self.start + 5):
                break
            if len(packets) >= _PROBE_PACKETS:
                break
        return packets, bool(key_ok) and all(first_audio.values())

    # -- keeping -----------------------------------------------------------------------------------
    @staticmethod
    def _time(p: av.Packet) -> Fraction | None:
        ts = p.pts if p.pts is not None else p.dts
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

    def packet(self, p: av.Packet) -> bool:
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
        shift = round(self.start / tb)
        p.pts = p.pts - shift if p.pts is not None else None
        p.dts = p.dts - shift if p.dts is not None else None
        return True

    def drained(self, p: av.Packet) -> bool:
        """After the video's end: whether demuxing can stop at packet ``p`` (every audio
        stream got past the end, or the demuxer is well past it)."""
        t = self._time(p)
        if t is not None and self.end is not None and t >= self.end + _DRAIN_SECONDS:
            return True
        return {s.index for s in self.container.streams.audio} <= self._seen

    def no_frames(self) -> MediaError:
        """The error for a range that held no video frame."""
        if self._last is not None and self._last < (self.range.start or 0):
            return MediaError(f"{self.name}: --start {_seconds(self.range.start or Fraction(0))} is past the end of "
                              f"the input (its last frame is at {_seconds(self._last)})")
        return MediaError(f"{self.name}: the range {self.range} holds no video frame of the input")
