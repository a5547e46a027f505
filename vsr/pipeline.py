"""The streaming pipeline: decode, upscale and encode threads joined by bounded queues.

::

    decode thread --[frames]--> upscale thread --[frames]--> encode thread --> temp file --> rename
         `---------------- other streams' packets (unbounded, a few frames ahead) ----^

The first exception in any stage stops the others and is re-raised in the caller.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vsr.backends.base import LoadedBackend
from vsr.config import BackendConfig, ModelConfig, UpscaleConfig
from vsr.errors import MediaError, VsrError
from vsr.output import atomic_output, check_paths, muxer_for
from vsr.media.stdio import check_stream_format, ffmpeg_url, is_stdio

if TYPE_CHECKING:
    from vsr.frames import YuvFrame
    from vsr.media.source import SourceInfo

__all__ = ["Progress", "VideoStats", "upscale_video", "load_backend"]

log = logging.getLogger(__name__)

_END = object()


@dataclass(frozen=True)
class Progress:
    """A progress report, sent after each encoded frame.

    Attributes:
        frames: frames encoded so far.
        total: expected frame count (0 if unknown).
        elapsed: seconds since the job started.
        fps: frames per second so far.
        eta: seconds left (None if unknown).
    """

    frames: int
    total: int
    elapsed: float
    fps: float
    eta: float | None


@dataclass
class VideoStats:
    """What one ``upscale_video`` call did.

    Attributes:
        frames: frames written.
        seconds: wall-clock time.
        fps: ``frames / seconds``.
        stage_seconds: busy time per stage (``decode``, ``upscale``, ``encode``), excluding queue waits.
        stage_fps: ``frames / busy time`` per stage.
        input_size, output_size: ``(width, height)``.
        corrupt_packets: video packets FFmpeg could not decode (skipped).
        corrupt_frames: frames FFmpeg decoded with errors (damage concealed, kept).
        backend: the backend that ran.
    """

    frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_fps: dict[str, float] = field(default_factory=dict)
    input_size: tuple[int, int] = (0, 0)
    output_size: tuple[int, int] = (0, 0)
    corrupt_packets: int = 0
    corrupt_frames: int = 0
    backend: str = ""


def load_backend(model: ModelConfig, backend: BackendConfig) -> LoadedBackend:
    """Create the trained model and build the backend ``backend`` names for it."""
    from vsr.backends import create_backend
    from vsr.devices import cpu_parallelism, parse_device
    from vsr.models.weights import get_spec

    spec = get_spec(model.name, model.scale, "clean" if model.weights == "auto" else model.weights)
    if parse_device(backend.device)[0] == "cpu":
        backend = replace(backend, threads=cpu_parallelism(backend.workers, backend.threads)[1])
    built = create_backend(None, spec, backend)  # each backend creates what it runs from the spec
    if backend.cuda_graphs and not built.cuda_graphs:
        log.warning("--cuda-graphs applies to the torch backend on a GPU; ignored with %s on %s",
                    built.name, built.device)
    return LoadedBackend(built, spec.radius)  # the radius is the same for both FSRCNN forms


def _hwdec_device(cfg: UpscaleConfig) -> str | None:
    """``--hwdec cuda`` decodes on the GPU that infers when that is ``cuda:N``."""
    from vsr.devices import resolve_device

    device = resolve_device(cfg.backend.device)
    return device if cfg.hwdec == "cuda" and device.startswith("cuda:") else cfg.hwdec


class _Stop(Exception):
    """Raised inside a stage when another stage failed."""


class _Run:
    """Shared state of one pipeline run: queues, stop flag, first error, timings."""

    def __init__(self, queue_size: int, cancel: threading.Event | None) -> None:
        self.frames_in: queue.Queue = queue.Queue(queue_size)
        self.frames_out: queue.Queue = queue.Queue(queue_size)
        self.packets: queue.SimpleQueue = queue.SimpleQueue()
        self.stop = threading.Event()  # our own: a failure must not set the caller's (maybe shared) cancel
        self.end_input = threading.Event()  # a live input was interrupted: stop reading, finish the output
        self.cancel = cancel
        self.error: BaseException | None = None
        self.busy: dict[str, float] = {"decode": 0.0, "upscale": 0.0, "encode": 0.0}
        self.lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc
        self.stop.set()

    def stopped(self) -> bool:
        return self.stop.is_set() or (self.cancel is not None and self.cancel.is_set())

    def put(self, q: queue.Queue, item: Any) -> None:
        while True:
            if self.stopped():
                raise _Stop
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue) -> Any:
        while True:
            if self.stopped():
                raise _Stop
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue


def _stage(run: _Run, name: str, fn: Callable[[], None]) -> threading.Thread:
    def body() -> None:
        try:
            fn()
        except _Stop:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            run.fail(e)

    t = threading.Thread(target=body, name=f"vsr-{name}", daemon=True)
    t.start()
    return t


def upscale_video(
    src: str | Path,
    dst: str | Path,
    config: UpscaleConfig | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    backend: Any = None,
    cancel: threading.Event | None = None,
    **options: Any,
) -> VideoStats:
    """Upscale a video file.

    Args:
        src: input video (any container/codec FFmpeg reads).
        dst: output file; its suffix picks the container.
        config: full configuration; keyword ``options`` override its fields:
            ``model``, ``scale``, ``weights``, ``backend``, ``device``, ``tile``, ``batch``, ``threads``,
            ``workers``, ``codec``, ``crf``, ``preset``, ``pix_fmt``, ``encoder_options``, ``size``,
            ``deinterlace``, ``hwdec``, ``overwrite``, ``queue_size``, ``range`` (a
            :class:`vsr.config.TimeRange`: only that part of the input, timestamps from zero).
        progress: called from the encode thread after each frame.
        backend: a backend name (the ``backend`` option, e.g. ``"onnxruntime"``), or an
            already built ``(backend, radius)`` pair to share between jobs.
        cancel: set it from another thread to stop the job (the output is discarded).

    Returns:
        Frame count, timings and sizes.

    Raises:
        VsrError: bad input, existing output, unavailable backend or encoder.
    """
    from vsr.media.decode import Decoder
    from vsr.devices import cpu_parallelism
    from vsr.host import make_upscaler

    if isinstance(backend, str):  # the ``backend`` option, not a built pair
        options["backend"], backend = backend, None
    cfg = merge_options(config or UpscaleConfig(), options)
    from vsr.media.decode import is_url

    url = is_url(src) or is_stdio(src)
    src_arg = str(src) if url else Path(src)
    src, dst = Path(src), Path(dst)
    to_stdout = is_stdio(dst)
    if to_stdout:
        check_stream_format(cfg.encode.container_format)
    else:
        check_paths(None if url else src, dst, cfg.overwrite)
        if cfg.encode.container_format is None:  # the partial's name has no suffix to guess from
            cfg = replace(cfg, encode=replace(cfg.encode, container_format=muxer_for(dst)))
        from vsr.batch.state import remove_stale_partials

        for old in remove_stale_partials([dst]):  # a killed earlier run of this job
            log.info("removed %s, left by a killed run", old)
    decoder = Decoder(src_arg, cfg.deinterlace, _hwdec_device(cfg), options=dict(cfg.input_options),
                      timeout=cfg.timeout, time_range=cfg.range)
    try:
        if cfg.model.weights == "auto" and backend is None:
            from vsr.models.choice import choose_weights

            chosen = choose_weights(cfg.model.name, cfg.model.scale, "auto", *decoder.bits_per_pixel())
            cfg = replace(cfg, model=replace(cfg.model, weights=chosen))
        net, radius = backend or load_backend(cfg.model, cfg.backend)
        try:
            workers = cpu_parallelism(cfg.backend.workers, cfg.backend.threads)[0]
            upscaler = make_upscaler(net, radius, cfg.backend.tile, cfg.size, workers=workers)
            stats = VideoStats(backend=net.name)
            total = decoder.expected_frames()
            live = url and not decoder.container.duration  # a stream or pipe with no end: Ctrl-C records
            try:
                if to_stdout:  # a pipe cannot be renamed: the reader sees a failure as the exit code
                    _run(decoder, upscaler, Path(ffmpeg_url(dst, output=True)), cfg, stats, total, progress, cancel,
                         live)
                else:
                    with atomic_output(dst, cfg.overwrite) as tmp:
                        _run(decoder, upscaler, tmp, cfg, stats, total, progress, cancel, live)
            finally:
                upscaler.close()
        finally:
            if backend is None:  # ours: released on failure too (device memory, engines)
                net.close()
    finally:
        decoder.close()
    stats.corrupt_packets = decoder.stats.corrupt_packets
    stats.corrupt_frames = decoder.stats.corrupt_frames
    if stats.corrupt_packets:
        log.warning("%s: %d corrupt video packets were skipped", src.name, stats.corrupt_packets)
    if stats.corrupt_frames:
        log.warning("%s: %d video frames were decoded with errors (damage concealed by FFmpeg)",
                    src.name, stats.corrupt_frames)
    return stats


# keyword options of upscale_video / upscale_batch -> (config group, field)
_GROUPED_OPTIONS = {
    "model": ("model", "name"), "scale": ("model", "scale"), "weights": ("model", "weights"),
    "backend": ("backend", "name"), "device": ("backend", "device"), "tile": ("backend", "tile"),
    "batch": ("backend", "batch"), "threads": ("backend", "threads"), "workers": ("backend", "workers"),
    "codec": ("encode", "codec"), "crf": ("encode", "crf"), "preset": ("encode", "preset"),
    "pix_fmt": ("encode", "pix_fmt"), "encoder_options": ("encode", "options"),
}


def merge_options(cfg: UpscaleConfig, options: dict[str, Any]) -> UpscaleConfig:
    """``cfg`` with keyword options applied (see :func:`upscale_video`)."""
    parts: dict[str, dict[str, Any]] = {"model": {}, "backend": {}, "encode": {}}
    top: dict[str, Any] = {}
    for key, value in options.items():
        if key in _GROUPED_OPTIONS:
            group, field = _GROUPED_OPTIONS[key]
            parts[group][field] = tuple(value.items()) if isinstance(value, dict) else value
        elif key in UpscaleConfig.__dataclass_fields__ and key not in parts:
            top[key] = value
        else:
            raise TypeError(f"upscale_video() got an unexpected option {key!r}")
    return replace(cfg, **{g: replace(getattr(cfg, g), **f) for g, f in parts.items()}, **top)


def _run(decoder, upscaler, tmp: Path, cfg: UpscaleConfig, stats: VideoStats, total: int,
         progress: Callable[[Progress], None] | None, cancel: threading.Event | None, live: bool = False) -> None:
    from vsr.media.encode import Encoder

    run = _Run(cfg.queue_size, cancel)
    batch = max(1, cfg.backend.batch)
    t0 = time.perf_counter()

    def decode() -> None:  # frames to the upscaler; other streams' packets straight to the encoder
        it = decoder.frames(packets=run.packets.put)
        while True:
            t = time.perf_counter()
            item = _END if run.end_input.is_set() else next(it, _END)
            run.busy["decode"] += time.perf_counter() - t
            if item is _END:
                break
            run.put(run.frames_in, item)
        run.put(run.frames_in, _END)

    # upscale: submit batches and collect them ``in_flight`` later (CPU workers compute
    # several at once; on CUDA the copies of one overlap the compute of the next)
    upscale_pending: deque = deque()

    def _flush_group(group: list) -> None:
        t = time.perf_counter()
        upscale_pending.append(upscaler.submit(group))
        run.busy["upscale"] += time.perf_counter() - t

    def _emit(p) -> None:
        t = time.perf_counter()
        frames = upscaler.collect(p)
        run.busy["upscale"] += time.perf_counter() - t
        for f in frames:
            run.put(run.frames_out, f)

    def upscale_stage() -> None:
        done = False
        while not done:
            group: list = []
            while len(group) < batch:
                item = run.get(run.frames_in)
                if item is _END:
                    done = True
                    break
                if group and item.planes[0].shape != group[0].planes[0].shape:
                    _flush_group(group)
                    group = []
                group.append(item)
            if group:
                _flush_group(group)
            while len(upscale_pending) > (0 if done else upscaler.in_flight):
                _emit(upscale_pending.popleft())
        run.put(run.frames_out, _END)

    encoder_box: list[Encoder] = []

    def encode() -> None:
        while True:
            item = run.get(run.frames_out)
            t = time.perf_counter()
            if not encoder_box and item is not _END:
                source = decoder.source_info()
                encoder_box.append(Encoder(tmp, item, source, cfg.encode, sample_aspect_ratio=_output_sar(source, item),
                                           pad_odd=cfg.size is None, container_format=cfg.encode.container_format))
                stats.input_size = source.coded_size
                stats.output_size = encoder_box[0].size
            enc = encoder_box[0] if encoder_box else None
            while enc is not None:
                try:
                    enc.mux(run.packets.get_nowait())
                except queue.Empty:
                    break
            if item is _END:
                if enc is None:
                    raise MediaError(f"{decoder.name}: no video frame could be decoded")
                enc.close()
                run.busy["encode"] += time.perf_counter() - t
                if progress is not None and total != stats.frames:  # the estimate was off: end at 100 %
                    el = time.perf_counter() - t0
                    progress(Progress(stats.frames, stats.frames, el, stats.frames / el if el > 0 else 0.0, 0.0))
                return
            enc.encode(item)
            run.busy["encode"] += time.perf_counter() - t
            stats.frames += 1
            if progress is not None:
                el = time.perf_counter() - t0
                fps = stats.frames / el if el > 0 else 0.0
                eta = (total - stats.frames) / fps if total and fps and total >= stats.frames else None
                progress(Progress(stats.frames, total, el, fps, eta))

    threads = [_stage(run, "decode", decode), _stage(run, "upscale", upscale_stage), _stage(run, "encode", encode)]
    try:
        for t in threads:
            while t.is_alive():
                try:
                    t.join(0.2)
                except KeyboardInterrupt:  # SIGINT, or SIGTERM as the CLI maps it
                    if not live or run.end_input.is_set():
                        raise
                    log.warning("%s: interrupted: the input ends here; finishing the output with what was "
                                "received (interrupt again to abort)", decoder.name)
                    run.end_input.set()
    except BaseException as e:  # Ctrl-C in the caller: stop the stages, then re-raise
        run.fail(e)
        for t in threads:
            t.join()
    if run.error is None and cancel is not None and cancel.is_set():
        run.error = VsrError("cancelled")
    if run.error is not None:
        if encoder_box:
            encoder_box[0].abort()
        raise run.error
    stats.seconds = time.perf_counter() - t0
    stats.fps = stats.frames / stats.seconds if stats.seconds else 0.0
    stats.stage_seconds = dict(run.busy)
    stats.stage_fps = {k: (stats.frames / v if v else 0.0) for k, v in run.busy.items()}


def _output_sar(source: SourceInfo, frame: YuvFrame) -> Fraction | None:
    """Sample aspect ratio that keeps the source's display aspect at the output size."""
    width, height = source.coded_size
    if not width or not height:
        return source.sample_aspect_ratio
    dar = source.sample_aspect_ratio * Fraction(width, height)
    out = dar / Fraction(frame.width, frame.height)
    return None if out == 1 and not source.sar_tagged else out
