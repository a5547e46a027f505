"""Device strings: ``cpu``, ``cuda``, ``cuda:N``, and ``KIND[:N]`` for the other device kinds
registered backends run on (:func:`register_device_kind`, called by ``register_backend``); the
CPU's inference features (:func:`cpu_features`)."""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from typing import Any

from vsr.errors import BackendError

__all__ = ["parse_device", "resolve_device", "nvidia_driver_present", "cuda_unavailable", "cpu_parallelism",
           "register_device_kind", "device_kinds", "device_help", "cpu_features", "native_int8"]

_KINDS: dict[str, None] = {"cpu": None, "cuda": None}  # in registration order; cpu has no index


def register_device_kind(kind: str) -> None:
    """Accept ``--device KIND`` and ``KIND:N`` (a backend that runs on a new kind of device)."""
    if not kind.isidentifier() or kind == "auto":
        raise ValueError(f"bad device kind {kind!r}")
    _KINDS.setdefault(kind, None)


def device_kinds() -> tuple[str, ...]:
    """The device kinds some registered backend runs on (``cpu`` and ``cuda`` first)."""
    return tuple(_KINDS)


def device_help() -> str:
    """``--device`` help: every device kind."""
    kinds = ", ".join(k if k == "cpu" else f"{k} or {k}:N" for k in _KINDS)
    return f"auto (default: a CUDA GPU if there is one), {kinds}"


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when PyTorch sees a GPU, else ``cpu``; anything else unchanged.

    Without an NVIDIA driver on the machine (or without PyTorch) that is ``cpu``, decided
    without importing PyTorch: the CPU path never loads it.
    """
    if device != "auto":
        return device
    if not nvidia_driver_present():
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def nvidia_driver_present() -> bool:
    """True when this machine has an NVIDIA kernel driver loaded (its device nodes or /proc entry)."""
    return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0"))


def parse_device(device: str) -> tuple[str, int]:
    """``"cuda:1"`` -> ``("cuda", 1)``; ``"cpu"`` -> ``("cpu", 0)``; ``auto`` resolved first.

    Raises:
        BackendError: not ``auto``, ``cpu``, or a registered kind with an optional ``:N``.
    """
    device = resolve_device(device)
    kind, _, idx = device.partition(":")
    if kind not in _KINDS or (idx and not idx.isdigit()) or (kind == "cpu" and idx):
        kinds = ", ".join(k if k == "cpu" else f"{k}, {k}:N" for k in _KINDS)
        raise BackendError(f"bad device {device!r}; use auto, {kinds}")
    return kind, int(idx or 0)


def cuda_unavailable(device: str) -> str | None:
    """Why ``device`` is not a usable CUDA device, or None if it is."""
    kind, idx = parse_device(device)
    if kind != "cuda":
        return "it needs a CUDA device (--device cuda)"
    if not nvidia_driver_present():
        return "this machine has no NVIDIA GPU (no NVIDIA driver is loaded)"
    import torch

    if not torch.cuda.is_available():
        return "PyTorch sees no CUDA GPU on this machine"
    if idx >= torch.cuda.device_count():
        return f"there is no GPU {idx} (found {torch.cuda.device_count()})"
    return None


def cpu_parallelism(workers: int = 0, threads: int = 0, cores: int = 0) -> tuple[int, int]:
    """Frames computed at once and threads per frame for CPU inference (0: automatic), on
    ``cores`` cores (0: those this process may run on).

    Frame-level parallelism beats splitting each operator across cores when the
    decoder and encoder share the machine: no barrier waits for a descheduled thread.
    Measured on 2 cores (ESPCN x2, 640x272, libx264 medium): one frame on 2 threads
    10.0 fps end to end, two frames on 1 thread each 12.3 fps. Automatic: up to 4
    frames at once, the cores shared between them.
    """
    cores = cores or _cores()
    workers = workers or min(cores, 4)
    threads = threads or max(1, cores // workers)
    return workers, threads


# NumPy passes over big planes (the upscale stage's and the OpenVINO shuffle's) are made strip
# by strip, each strip this many bytes of float32: small enough to stay in a core's L2 cache
# between the passes
STRIP_BYTES = 256 * 1024


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# /proc/cpuinfo flags that matter for CPU inference
_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_fp16")


def cpu_features(cpuinfo: str | None = None) -> dict[str, Any]:
    """``{"model": ..., "cores": N, "flags": [...], "bf16": bool, "vnni": bool, "amx": bool}``.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` (default: read it; empty where there is none).
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    model, flags = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() in ("flags", "Features"):
            flags = set(value.split())
    have = [f for f in _CPU_FLAGS if f in flags]
    # platform.processor() runs `uname -p` on Linux: asked only where /proc/cpuinfo names no model
    model = model or platform.processor() or platform.machine()
    return {"model": model, "cores": _cores(), "flags": have,
            "bf16": "avx512_bf16" in flags or "amx_bf16" in flags,
            "vnni": "avx512_vnni" in flags or "avx_vnni" in flags, "amx": "amx_bf16" in flags}


@lru_cache(maxsize=1)
def native_int8() -> bool:
    """True when this CPU computes int8 dot products natively (AVX512_VNNI, AVX_VNNI or AMX)."""
    flags = cpu_features()["flags"]
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))
