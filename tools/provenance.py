"""What a training run records about itself: the machine it trained on, read from the system
(never typed in), and how its checkpoint continues the stages of shipped weights.

A checkpoint is identified by its SHA-256, not by where it lies: the shipped weights'
provenance holds ``checkpoint`` (where it was written), ``checkpoint_sha256`` and, for the
checkpoints once committed under ``tools/checkpoints/``, ``checkpoint_commit`` (a commit that
holds it; ``python -m tools.restore_checkpoint`` gets it back from there).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from tools.paths import home_relative
from vsr.models.weights import sha256_file

# /proc/cpuinfo flags worth naming: the matrix and bf16 units PyTorch's CPU kernels use
_CPU_FLAGS = {"amx_tile": "AMX", "amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512_BF16", "avx512f": "AVX-512",
              "avx2": "AVX2"}


def cpu_description() -> str:
    """The CPU as the system reports it: model name, usable cores and the notable flags, e.g.
    ``Intel(R) Xeon(R) Platinum 8488C, 2 cores (AMX, AMX-BF16, AVX512_BF16, AVX-512, AVX2)``."""
    name, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not name:
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:  # not Linux
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    named = [label for flag, label in _CPU_FLAGS.items() if flag in flags]
    return f"{name}, {cores} cores" + (f" ({', '.join(named)})" if named else "")


def hardware(device: str) -> str:
    """One line on where a training session runs: the CPU, or the GPU for a CUDA device, and the
    PyTorch build and thread count, e.g. ``Intel(R) Xeon(R) ..., 2 cores (AMX, ...); PyTorch
    2.13.0+cpu, 1 thread``."""
    import torch

    if str(device).startswith("cuda"):
        index = torch.device(device).index or 0
        where = f"{torch.cuda.get_device_name(index)} (CUDA {torch.version.cuda}); CPU {cpu_description()}"
    else:
        where = cpu_description()
    threads = torch.get_num_threads()
    return f"{where}; PyTorch {torch.__version__}, {threads} thread{'s' if threads != 1 else ''}"


def checkpoint_record(path: Path) -> dict[str, str]:
    """``checkpoint`` (``~`` for the home folder) and ``checkpoint_sha256`` of a checkpoint file."""
    return {"checkpoint": home_relative(path), "checkpoint_sha256": sha256_file(path)}


def earlier_stages(model: str, scale: int, init: str | None, command: str) -> dict:
    """When ``init`` is the checkpoint a shipped set of (model, scale) came from (the clean one,
    or the compressed one for a later stage; same SHA-256), that entry's stages and hardware with
    this run (``command --init INIT``) appended, so the manifest keeps the whole history; else {}."""
    from vsr.errors import ModelError
    from vsr.models.weights import get_spec

    if not init or not Path(init).is_file():
        return {}
    digest = sha256_file(Path(init))
    for weights in ("clean", "compressed"):
        try:
            earlier = get_spec(model, scale, weights).provenance
        except ModelError:  # no shipped weights in that set yet
            continue
        if earlier.get("checkpoint_sha256") == digest:
            stages = earlier.get("stages") or [earlier["command"]]
            carried = {"stages": [*stages, f"{command} --init {home_relative(init)}"]}
            if "hardware" in earlier:
                carried["hardware"] = earlier["hardware"]
            return carried
    return {}
