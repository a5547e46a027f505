"""The streaming pipeline: decode, upscale and encode threads joined by bounded queues.

::

    decode thread --[frames]--> upscale thread --[frames]--> encode thread --> temp file --> rename
         `---------------- other streams' packets (unbounded, a few frames ahead) ----^

The first exception in any stage stops the others and is re-raised in the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vsr.backends.base import LoadedBackend
from vsr.config import BackendConfig, ModelConfig, UpscaleConfig
from vsr.errors import VsrError
from vsr.media.containers import check_codec_fits, check_paths, muxer_for
from vsr.output import atomic_output, remove_stale_partials
from vsr.media.stdio import check_stream_format, ffmpeg_url, is_stdio
from vsr.stages import Channels, Decode, Encode, EncodeOptions, Stopped, Upscale
from vsr.upscale.budget import queue_frames

if TYPE_CHECKING:
    from vsr.frames import YuvFrame

__all__ = ["Progress", "VideoStats", "upscale_video", "load_backend", "auto_weights"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """A progress report, sent after each encoded frame.

    Attributes:
        frames: frames encoded so far.
        total: expected frame count (0 if unknown).
        elapsed: seconds since the job started.
        fps: frames per second so far.
        eta: seconds left (None if unknown).
        position: seconds of video encoded so far (the frames' timestamps: ``n`` frames span
            ``n`` mean frame intervals), None before timestamps are known.
        segment: the segment being computed, in a segmented run (``--segments``); None otherwise.
    """

    frames: int
    total: int
    elapsed: float
    fps: float
    eta: float | None
    position: float | None = None
    segment: int | None = None

    @property
    def speed(self) -> float | None:
        """Video seconds encoded per wall-clock second (FFmpeg's ``speed=``, e.g. 0.5 is half real time)."""
        if self.position is None or self.elapsed <= 0:
            return None
        return self.position / self.elapsed


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
        model, scale, weights: the network, its factor and the weight set that ran (``auto`` resolved).
        precision: what the backend computes in (``bf16``, ``f32``, ``fp16``), "" where it does not say.
        codec: the video encoder.
        duration: seconds of video written (see :attr:`Progress.position`).
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
    model: str = ""
    scale: int = 0
    weights: str = ""
    precision: str = ""
    codec: str = ""
    duration: float = 0.0


def auto_weights(cfg: UpscaleConfig, codec: str, bpp: float | None) -> UpscaleConfig:
    """``cfg`` with ``--weights auto`` decided for an input decoded by ``codec`` at ``bpp`` bits
    per pixel (:func:`vsr.media.decode.bits_per_pixel`); other weight sets unchanged."""
    if cfg.model.weights != "auto":
        return cfg
    from vsr.models.choice import choose_weights

    chosen = choose_weights(cfg.model.name, cfg.model.scale, "auto", codec, bpp)
    return replace(cfg, model=replace(cfg.model, weights=chosen))


def load_backend(model: ModelConfig, backend: BackendConfig) -> LoadedBackend:
    """Create the trained model and build the backend ``backend`` names for it."""
    from vsr.backends import create_backend
    from vsr.devices import cpu_parallelism, parse_device
    from vsr.models.weights import get_spec

    spec = get_spec(model.name, model.scale, model.weights)
    if parse_device(backend.device)[0] == "cpu":
        backend = replace(backend, threads=cpu_parallelism(backend.workers, backend.threads)[1])
    built = create_backend(None, spec, backend)  # each backend creates what it runs from the spec
    return LoadedBackend(built, spec.radius)  # the radius is the same for both FSRCNN forms


def _hwdec_device(cfg: UpscaleConfig) -> str | None:
    """``--hwdec cuda`` decodes on the GPU that infers when that is ``cuda:N``."""
    from vsr.devices import resolve_device

    device = resolve_device(cfg.backend.device)
    return device if cfg.hwdec == "cuda" and device.startswith("cuda:") else cfg.hwdec


def upscale_video(
    src: str | Path,
    dst: str | Path,
    config: UpscaleConfig | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    loaded: LoadedBackend | None = None,
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
        loaded: an already built backend (:func:`load_backend`) to share between jobs; it
            stays open. Without it the ``backend`` option (a name, e.g. ``"onnxruntime"``) is built.
        cancel: set it from another thread to stop the job (the output is discarded).

    Returns:
        Frame count, timings and sizes.

    Raises:
        VsrError: bad input, existing output, unavailable backend or encoder.
    """
    from vsr.media.decode import Decoder
    from vsr.media.probe import estimate_frames
    from vsr.devices import cpu_parallelism
    from vsr.models.registry import model_card
    from vsr.upscale import make_upscaler

    if not isinstance(options.get("backend", ""), str):
        raise TypeError("upscale_video(backend=) takes a backend name; pass a built backend as loaded=")
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
    check_codec_fits(cfg.encode.codec, cfg.encode.container_format)
    if not to_stdout:
        for old in remove_stale_partials([dst]):  # a killed earlier run of this job
            log.info("removed %s, left by a killed run", old)
    decoder = Decoder(src_arg, cfg.deinterlace, _hwdec_device(cfg), options=dict(cfg.input_options),
                      timeout=cfg.timeout, time_range=cfg.range)
    try:
        if loaded is None:
            cfg = auto_weights(cfg, *decoder.bits_per_pixel())
        net, radius = loaded or load_backend(cfg.model, cfg.backend)
        try:
            workers = cpu_parallelism(cfg.backend.workers, cfg.backend.threads)[0]
            upscaler = make_upscaler(net, radius, cfg.backend.tile, cfg.size, workers=workers,
                                     channels=model_card(cfg.model.name).widest)
            stats = VideoStats(backend=net.name, model=cfg.model.name, scale=cfg.model.scale,
                               weights=cfg.model.weights, precision=str(getattr(net, "precision", "") or ""))
            total = decoder.expected_frames(estimate_frames(decoder.stream, decoder.container)[0])
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
            if loaded is None:  # ours: released on failure too (device memory, engines)
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


# keyword options of upscale_video / upscale_batch -> (config group, field); a backend's own
# options (vsr.backends.backend_options()) go to BackendConfig.options
_GROUPED_OPTIONS = {
    "model": ("model", "name"), "scale": ("model", "scale"), "weights": ("model", "weights"),
    "backend": ("backend", "name"), "device": ("backend", "device"), "tile": ("backend", "tile"),
    "batch": ("backend", "batch"), "threads": ("backend", "threads"), "workers": ("backend", "workers"),
    "codec": ("encode", "codec"), "crf": ("encode", "crf"), "preset": ("encode", "preset"),
    "pix_fmt": ("encode", "pix_fmt"), "encoder_options": ("encode", "options"),
}


def merge_options(cfg: UpscaleConfig, options: dict[str, Any]) -> UpscaleConfig:
    """``cfg`` with keyword options applied (see :func:`upscale_video`)."""
    from vsr.backends import backend_options

    parts: dict[str, dict[str, Any]] = {"model": {}, "backend": {}, "encode": {}}
    top: dict[str, Any] = {}
    own = dict(cfg.backend.options)  # the backends' own options (precision, max_size, ...)
    for key, value in options.items():
        if key in backend_options():
            own[key] = value
            parts["backend"]["options"] = own
        elif key in _GROUPED_OPTIONS:
            group, field = _GROUPED_OPTIONS[key]
            parts[group][field] = tuple(value.items()) if isinstance(value, dict) else value
        elif key in UpscaleConfig.__dataclass_fields__ and key not in parts:
            top[key] = value
        else:
            raise TypeError(f"upscale_video() got an unexpected option {key!r}")
    return replace(cfg, **{g: replace(getattr(cfg, g), **f) for g, f in parts.items()}, **top)


class _Reporter:
    """Turns each encoded frame into a :class:`Progress` report (the encode thread calls it).

    It also keeps the seconds of video covered so far, from the frames' timestamps: ``n`` frames
    whose first and last timestamps are ``d`` seconds apart span ``d * n / (n - 1)`` seconds
    (``n`` mean frame intervals: 250 frames at 25 fps give 10.0 s).
    """

    def __init__(self, progress: Callable[[Progress], None] | None, total: int) -> None:
        self.progress, self.total, self.t0 = progress, total, time.perf_counter()
        self.first: float | None = None
        self.duration = 0.0

    def _clock(self, frames: int, frame: YuvFrame) -> None:
        if frame.pts is None:
            self.duration = 0.0
            return
        t = float(frame.pts * frame.time_base)
        if self.first is None:
            self.first = t
        self.duration = (t - self.first) * frames / (frames - 1) if frames > 1 else 0.0

    def __call__(self, frames: int, frame: YuvFrame) -> None:
        self._clock(frames, frame)
        if self.progress is not None:
            el = time.perf_counter() - self.t0
            fps = frames / el if el > 0 else 0.0
            eta = (self.total - frames) / fps if self.total and fps and self.total >= frames else None
            self.progress(Progress(frames, self.total, el, fps, eta, self.duration or None))

    def finish(self, frames: int) -> None:
        if self.progress is not None and self.total != frames:  # the estimate was off: end at 100 %
            el = time.perf_counter() - self.t0
            self.progress(Progress(frames, frames, el, frames / el if el > 0 else 0.0, 0.0, self.duration or None))


def _thread(channels: Channels, name: str, fn: Callable[[], None]) -> threading.Thread:
    def body() -> None:
        try:
            fn()
        except Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            channels.fail(e)

    t = threading.Thread(target=body, name=f"vsr-{name}", daemon=True)
    t.start()
    return t


def _run(decoder, upscaler, tmp: Path, cfg: UpscaleConfig, stats: VideoStats, total: int,
         progress: Callable[[Progress], None] | None, cancel: threading.Event | None, live: bool = False) -> None:
    """Decode, upscale and encode in three threads joined by bounded queues."""
    cc = decoder.stream.codec_context  # queues bounded in bytes too: an 8K x2 frame is 200 MB or more
    out_w, out_h = cfg.size or (cc.width * upscaler.backend.scale, cc.height * upscaler.backend.scale)
    ch = Channels(queue_frames(cfg.queue_size, out_w * out_h * 3), cancel)
    report = _Reporter(progress, total)
    decode = Decode(decoder, None if cfg.video_only else ch.packets.put, ch.end_input)
    upscale = Upscale(upscaler, cfg.backend.batch)
    encode = Encode(tmp, decoder, EncodeOptions(cfg.encode, pad_odd=cfg.size is None, video_only=cfg.video_only), report)

    def encode_all() -> None:
        encode.consume(ch.receive(ch.frames_out), ch.packets)
        report.finish(encode.frames)

    threads = [_thread(ch, "decode", lambda: ch.send(ch.frames_in, decode.frames())),
               _thread(ch, "upscale", lambda: ch.send(ch.frames_out, upscale.process(ch.receive(ch.frames_in)))),
               _thread(ch, "encode", encode_all)]
    try:
        for t in threads:
            while t.is_alive():
                try:
                    t.join(0.2)
                except KeyboardInterrupt:  # SIGINT, or SIGTERM as the CLI maps it
                    if not live or ch.end_input.is_set():
                        raise
                    log.warning("%s: interrupted: the input ends here; finishing the output with what was "
                                "received (interrupt again to abort)", decoder.name)
                    ch.end_input.set()
    except BaseException as e:  # Ctrl-C in the caller: stop the stages, then re-raise
        ch.fail(e)
        for t in threads:
            t.join()
    if ch.error is None and cancel is not None and cancel.is_set():
        ch.error = VsrError("cancelled")
    if ch.error is not None:
        encode.abort()
        raise ch.error
    stats.frames = encode.frames
    stats.seconds = time.perf_counter() - report.t0
    stats.fps = stats.frames / stats.seconds if stats.seconds else 0.0
    stats.input_size, stats.output_size = encode.source.coded_size, encode.size
    stats.codec, stats.duration = encode.codec, report.duration
    stats.stage_seconds = {st.name: st.busy for st in (decode, upscale, encode)}
    stats.stage_fps = {k: (stats.frames / v if v else 0.0) for k, v in stats.stage_seconds.items()}
