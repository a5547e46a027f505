"""The pipeline's three stages as small classes: :class:`Decode`, :class:`Upscale`, :class:`Encode`.

Each stage is an iterator transformer that counts its own busy time, so the same objects run
in :mod:`vsr.pipeline`'s threads (joined by a :class:`Channels`' bounded queues) and, one at a
time, in ``tools/bench.py``::

    frames = Decode(decoder, packets).frames()            # YuvFrames (other streams' packets to ``packets``)
    frames = Upscale(upscaler, batch).process(frames)     # batches submitted ``in_flight`` ahead
    Encode(dst, decoder, config).consume(frames, packets) # muxes frames and the other streams' packets

A stage with a new option (a time range, video only) takes it in its constructor.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from vsr.errors import MediaError

if TYPE_CHECKING:
    from vsr.config import EncodeConfig
    from vsr.frames import YuvFrame
    from vsr.media.decode import Decoder
    from vsr.media.source import SourceInfo

__all__ = ["Decode", "Upscale", "Encode", "EncodeOptions", "Channels", "Stopped", "output_sar"]

END = object()  # the end of a channel's frames


class Stopped(Exception):
    """Raised inside a stage when another stage failed or the job was cancelled."""


class Channels:
    """What the stage threads of one run share: bounded frame queues, the other streams'
    packets, the stop flag and the first error.

    Args:
        queue_size: frames each queue holds.
        cancel: the caller's event; setting it stops every stage.
    """

    def __init__(self, queue_size: int, cancel: threading.Event | None = None) -> None:
        self.frames_in: queue.Queue = queue.Queue(queue_size)
        self.frames_out: queue.Queue = queue.Queue(queue_size)
        self.packets: queue.SimpleQueue = queue.SimpleQueue()
        self.stop = threading.Event()  # our own: a failure must not set the caller's (maybe shared) cancel
        self.end_input = threading.Event()  # a live input was interrupted: stop reading, finish the output
        self.cancel = cancel
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        """Record the first error and stop every stage."""
        with self._lock:
            if self.error is None:
                self.error = exc
        self.stop.set()

    def stopped(self) -> bool:
        return self.stop.is_set() or (self.cancel is not None and self.cancel.is_set())

    def send(self, q: queue.Queue, items: Iterable[Any]) -> None:
        """Put every item, then :data:`END`, on ``q`` (raises :class:`Stopped` when stopped)."""
        for item in items:
            self._put(q, item)
        self._put(q, END)

    def receive(self, q: queue.Queue) -> Iterator[Any]:
        """The items put on ``q`` up to :data:`END`."""
        while True:
            item = self._get(q)
            if item is END:
                return
            yield item

    def _put(self, q: queue.Queue, item: Any) -> None:
        while True:
            if self.stopped():
                raise Stopped
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _get(self, q: queue.Queue) -> Any:
        while True:
            if self.stopped():
                raise Stopped
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue


class Decode:
    """Frames from a decoder; the other streams' packets go to ``packets`` as they are read.

    Args:
        decoder: an open :class:`vsr.media.decode.Decoder`.
        packets: called with each packet of a stream that is copied (None: not kept).
        end_input: once set, no more frames are read (a live input that was interrupted).
    """

    name = "decode"

    def __init__(self, decoder: Decoder, packets: Callable[[Any], None] | None = None,
                 end_input: threading.Event | None = None) -> None:
        self.decoder, self.packets, self.end_input = decoder, packets, end_input
        self.busy = 0.0

    def frames(self) -> Iterator[YuvFrame]:
        it = self.decoder.frames(packets=self.packets) if self.packets is not None else iter(self.decoder)
        while True:
            t = time.perf_counter()
            item = END if self.end_input is not None and self.end_input.is_set() else next(it, END)
            self.busy += time.perf_counter() - t
            if item is END:
                return
            yield item


class Upscale:
    """Upscaled frames, in order: same-size batches of ``batch`` submitted to ``upscaler`` and
    collected ``upscaler.in_flight`` batches later (CPU workers compute several at once; on
    CUDA the copies of one overlap the compute of the next).

    Args:
        upscaler: a :class:`vsr.upscale.host.HostUpscaler` (or device one).
        batch: frames per backend call.
    """

    name = "upscale"

    def __init__(self, upscaler, batch: int = 1) -> None:
        self.upscaler, self.batch = upscaler, max(1, batch)
        self.busy = 0.0

    def _submit(self, pending: deque, group: list) -> None:
        t = time.perf_counter()
        pending.append(self.upscaler.submit(group))
        self.busy += time.perf_counter() - t

    def _collect(self, pending: deque) -> list[YuvFrame]:
        t = time.perf_counter()
        frames = self.upscaler.collect(pending.popleft())
        self.busy += time.perf_counter() - t
        return frames

    def process(self, frames: Iterable[YuvFrame]) -> Iterator[YuvFrame]:
        pending: deque = deque()
        group: list = []
        for item in frames:
            if group and item.planes[0].shape != group[0].planes[0].shape:
                self._submit(pending, group)
                group = []
            group.append(item)
            if len(group) == self.batch:
                self._submit(pending, group)
                group = []
                while len(pending) > self.upscaler.in_flight:
                    yield from self._collect(pending)
        if group:
            self._submit(pending, group)
        while pending:
            yield from self._collect(pending)


@dataclass(frozen=True)
class EncodeOptions:
    """How :class:`Encode` writes.

    Attributes:
        encode: codec, quality, pixel format, container.
        pad_odd: pad an odd output size by one pixel (False when the user asked for the size).
        video_only: write the video alone, without the source's other streams, chapters and
            global tags (a segment's part: the join takes those once from the source).
    """

    encode: EncodeConfig
    pad_odd: bool = True
    video_only: bool = False


class Encode:
    """Writes frames to ``dst``, muxing the other streams' packets between them.

    The encoder opens at the first frame, which fixes the output size and format; the source's
    display aspect is kept (:func:`output_sar`).

    Args:
        dst: the file (or FFmpeg URL) written.
        decoder: the input's decoder, for the snapshot of the source (streams, tags).
        options: see :class:`EncodeOptions`.
        progress: called with the frame count and the frame after each frame.
    """

    name = "encode"

    def __init__(self, dst: Path, decoder: Decoder, options: EncodeOptions,
                 progress: Callable[[int, YuvFrame], None] | None = None) -> None:
        self.dst, self.decoder, self.options, self.progress = dst, decoder, options, progress
        self.encoder = None
        self.source: SourceInfo | None = None
        self.frames = 0
        self.busy = 0.0

    def _open(self, frame: YuvFrame) -> None:
        from vsr.media.encode import Encoder

        self.source = self.decoder.source_info()
        if self.options.video_only:
            self.source = replace(self.source, streams=(), chapters=[], metadata={})
        enc = self.options.encode
        self.encoder = Encoder(self.dst, frame, self.source, enc, sample_aspect_ratio=output_sar(self.source, frame),
                               pad_odd=self.options.pad_odd, container_format=enc.container_format)

    def _mux_waiting(self, packets: queue.SimpleQueue | None) -> None:
        while self.encoder is not None and packets is not None:
            try:
                self.encoder.mux(packets.get_nowait())
            except queue.Empty:
                break

    def consume(self, frames: Iterable[YuvFrame], packets: queue.SimpleQueue | None = None) -> None:
        """Encode every frame, then close the file (on an error the caller calls :meth:`abort`).

        Raises:
            MediaError: there was no frame at all.
        """
        it = iter(frames)
        while True:
            item = next(it, END)
            t = time.perf_counter()
            if self.encoder is None and item is not END:
                self._open(item)
            self._mux_waiting(packets)
            if item is END:
                if self.encoder is None:
                    raise MediaError(f"{self.decoder.name}: no video frame could be decoded; {self.decoder.hint}")
                self.encoder.close()
                self.busy += time.perf_counter() - t
                return
            self.encoder.encode(item)
            self.busy += time.perf_counter() - t
            self.frames += 1
            if self.progress is not None:
                self.progress(self.frames, item)

    @property
    def size(self) -> tuple[int, int]:
        """The output ``(width, height)`` once the first frame was written, else ``(0, 0)``."""
        return self.encoder.size if self.encoder is not None else (0, 0)

    @property
    def codec(self) -> str:
        """The video encoder's name once the first frame was written, else ``""``."""
        return self.encoder.stream.codec_context.name if self.encoder is not None else ""

    def abort(self) -> None:
        """Drop the encoder without finishing the file."""
        if self.encoder is not None:
            self.encoder.abort()


def output_sar(source: SourceInfo, frame: YuvFrame) -> Fraction | None:
    """Sample aspect ratio that keeps the source's display aspect at the output size."""
    width, height = source.coded_size
    if not width or not height:
        return source.sample_aspect_ratio
    dar = source.sample_aspect_ratio * Fraction(width, height)
    out = dar / Fraction(frame.width, frame.height)
    return None if out == 1 and not source.sar_tagged else out
