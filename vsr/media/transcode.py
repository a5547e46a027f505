"""Audio that the output container cannot hold as it is, decoded and encoded again.

Copying is always preferred (see :mod:`vsr.media.streams`); this is the fallback that keeps
the sound of, say, WMA from an ASF file, AMR from a 3GP phone clip or DV's PCM when the
output is MKV or MP4: AAC (Opus for WebM and Ogg) at the source's sample rate and channels,
with the source's timestamps, language, title and disposition.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np

__all__ = ["AudioTranscode", "audio_target"]

log = logging.getLogger(__name__)

# encoder per output container family; anything else gets AAC
_TARGET = {"webm": "libopus", "ogg": "libopus"}

_STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def audio_target(output: av.container.OutputContainer) -> str:
    """The audio encoder a re-encoded track gets in ``output``'s container."""
    names = output.format.name.split(",")
    return next((codec for family, codec in _TARGET.items() if family in names), "aac")


class AudioTranscode:
    """One input audio stream decoded and encoded into a new stream of ``output``.

    Args:
        output: the output container (before its header is written).
        src: the input audio stream (its packets are given to :meth:`mux`).
        window: ``(start, end)`` seconds of sound kept, to the sample (a time range's; None
            for a side left open); None: all of it.

    Raises:
        ValueError, av.error.FFmpegError: no encoder or the container refuses the target too.
    """

    def __init__(self, output: av.container.OutputContainer, src: av.audio.stream.AudioStream,
                 window: tuple[Fraction | None, Fraction | None] | None = None) -> None:
        self.output = output
        self._window = window or (None, None)
        self._decoder = src.codec_context
        name = audio_target(output)
        rate = 48000 if name == "libopus" else self._decoder.sample_rate or 48000
        self.stream = output.add_stream(name, rate=rate)
        layout = self._decoder.layout
        if layout is None or not layout.nb_channels or layout.name.endswith("channels"):
            # channels of unknown order (WMA says "2 channels"), which encoders refuse: the standard layout
            layout = _STANDARD_LAYOUTS.get(layout.nb_channels if layout else 2, "stereo")
        self.stream.layout = layout
        self.stream.time_base = Fraction(1, rate)
        self.stream.codec_context.open()  # fail here, where dropping the track is still possible
        self.codec = name
        self._failed = False
        self._next: int | None = None  # where the last decoded frame ended, in samples

    def mux(self, packet: av.Packet, prime: bool = False) -> None:
        """Decode one input packet and write what the encoder gives back.

        Args:
            prime: a packet from before a time range's start: decoded (the decoder needs what
                came before its first packet in the range); only its sound after the start is kept.
        """
        try:
            frames = self._decoder.decode(packet)
        except av.error.FFmpegError as e:
            if not prime:
                log.warning("skipped an undecodable audio packet at pts %s (%s)", packet.pts, e)
            return
        self._encode(frames)

    def flush(self) -> None:
        """Drain the decoder and the encoder (call once, before the output is closed)."""
        try:
            frames = self._decoder.decode(None)
        except av.error.FFmpegError:
            frames = []
        self._encode(frames, last=True)

    def _cut(self, f: av.AudioFrame) -> av.AudioFrame | None:
        """``f`` (timed in samples) cut to the window: None when none of it is inside."""
        start, end = self._window
        first = 0 if start is None else max(0, round(start * f.sample_rate) - f.pts)
        stop = f.samples if end is None else min(f.samples, round(end * f.sample_rate) - f.pts)
        if first == 0 and stop == f.samples:
            return f
        if stop <= first:
            return None
        data = f.to_ndarray()  # planar: (channels, samples); packed: (1, samples * channels)
        step = 1 if f.format.is_planar else f.layout.nb_channels
        g = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, first * step:stop * step]),
                                       format=f.format.name, layout=f.layout)
        g.sample_rate, g.pts, g.time_base = f.sample_rate, f.pts + first, f.time_base
        return g

    def _encode(self, frames: list[av.AudioFrame], last: bool = False) -> None:
        if self._failed:
            return
        try:
            for f in frames:
                if f.pts is not None and f.time_base and f.sample_rate:
                    # in samples, so the encoder's resampler keeps the time of every frame
                    f.pts = round(Fraction(f.pts) * f.time_base * f.sample_rate)
                    f.time_base = Fraction(1, f.sample_rate)
                elif f.pts is None and self._next is not None and f.sample_rate:  # a flushed frame: it follows on
                    f.pts, f.time_base = self._next, Fraction(1, f.sample_rate)
                if f.pts is not None and f.time_base == Fraction(1, f.sample_rate or 1):
                    self._next = f.pts + f.samples
                    f = self._cut(f)
                    if f is None:
                        continue
                for p in self.stream.encode(f):
                    self.output.mux(p)
            if last:
                for p in self.stream.encode(None):
                    self.output.mux(p)
        except (ValueError, av.error.FFmpegError) as e:
            # sound that changes format mid-stream, say: the track ends here, the video goes on
            self._failed = True
            log.warning("re-encoded audio track ends early: %s", e)
