"""Frozen, typed configuration for models, backends, encoding and whole jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ModelConfig", "BackendConfig", "EncodeConfig", "UpscaleConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a registered architecture, an upscaling factor and a weight set.

    Attributes:
        name: architecture, e.g. ``espcn``.
        scale: upscaling factor.
        weights: ``clean`` (trained on bicubic LR), ``compressed`` (fine-tuned on codec-degraded
            LR) or ``auto`` (chosen per input from its bits per pixel, see
            :func:`vsr.models.choice.choose_weights`).
    """

    name: str = "espcn"
    scale: int = 2
    weights: str = "auto"


@dataclass(frozen=True)
class BackendConfig:
    """Where and how the network runs.

    Attributes:
        name: ``auto`` or a registered backend (``vsr.backends.backend_names()``).
        device: ``auto`` (a CUDA GPU when PyTorch sees one, else the CPU), ``cpu`` or ``cuda[:N]``.
        tile: split the luma into tiles of at most this many pixels per side (0: whole frame).
        batch: frames per backend call.
        threads: CPU threads per backend call (0: automatic, the cores shared between workers).
        max_size: largest luma (width, height) a prebuilt backend must accept (TensorRT
            builds its engine for 1x1 up to this; None: 1920x1088). Larger frames are tiled.
        cuda_graphs: PyTorch on CUDA: replay captured CUDA graphs (fixed shapes).
        workers: on the CPU, frames (batches) computed at once in worker threads (0: automatic,
            see :func:`vsr.devices.cpu_parallelism`).
        precision: OpenVINO's compute precision: ``auto`` (bf16 where the CPU has it
            natively, else f32), ``f32`` or ``bf16``; the other backends ignore it.
    """

    name: str = "auto"
    device: str = "auto"
    tile: int = 0
    batch: int = 1
    threads: int = 0
    max_size: tuple[int, int] | None = None
    cuda_graphs: bool = False
    workers: int = 0
    precision: str = "auto"


@dataclass(frozen=True)
class EncodeConfig:
    """Output encoding. ``None`` fields are chosen from the source (see ``media.encode``).

    Attributes:
        codec: FFmpeg encoder name, e.g. ``libx264``, ``libx265``, ``ffv1``, ``hevc_nvenc``.
        crf: constant rate factor / quality.
        preset: encoder preset.
        pix_fmt: output pixel format, e.g. ``yuv420p10le``.
        options: extra encoder options as ``(key, value)`` pairs.
        container_format: FFmpeg muxer name (``--format``); None: from the output's suffix.
        muxer_options: FFmpeg muxer options as ``(key, value)`` pairs (segment parts:
            ``avoid_negative_ts=disabled`` keeps the source's timestamps unshifted).
    """

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    container_format: str | None = None
    muxer_options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class UpscaleConfig:
    """Everything one ``upscale_video`` call needs besides the paths."""

    model: ModelConfig = field(default_factory=ModelConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    size: tuple[int, int] | None = None  # exact output (width, height); None: scale x input
    deinterlace: str = "auto"  # auto | off
    hwdec: str | None = None  # None | cuda
    overwrite: bool = False
    queue_size: int = 4
    input_options: tuple[tuple[str, str], ...] = ()  # FFmpeg protocol/demuxer options (--input-option)
    timeout: float | None = None  # seconds without input data before the job fails (--timeout)
    video_only: bool = False  # write the video stream alone: no copied streams, chapters or tags (segment parts)
