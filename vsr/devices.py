"""Device strings: ``cpu``, ``cuda``, ``cuda:N``."""

from __future__ import annotations

from vsr.errors import BackendError

__all__ = ["parse_device", "cuda_unavailable"]


def parse_device(device: str) -> tuple[str, int]:
    """``"cuda:1"`` -> ``("cuda", 1)``; ``"cpu"`` -> ``("cpu", 0)``.

    Raises:
        BackendError: not of the form ``cpu``, ``cuda`` or ``cuda:N``.
    """
    kind, _, idx = device.partition(":")
    if kind not in ("cpu", "cuda") or (idx and not idx.isdigit()) or (kind == "cpu" and idx):
        raise BackendError(f"bad device {device!r}; use cpu, cuda or cuda:N")
    return kind, int(idx or 0)


def cuda_unavailable(device: str) -> str | None:
    """Why ``device`` is not a usable CUDA device, or None if it is."""
    kind, idx = parse_device(device)
    if kind != "cuda":
        return "it needs a CUDA device (--device cuda)"
    import torch

    if not torch.cuda.is_available():
        return "PyTorch sees no CUDA GPU on this machine"
    if idx >= torch.cuda.device_count():
        return f"there is no GPU {idx} (found {torch.cuda.device_count()})"
    return None
