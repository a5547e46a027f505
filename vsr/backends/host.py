"""The base of backends on host memory (no PyTorch): NumPy in, NumPy out, on the CPU."""

from __future__ import annotations

import numpy as np

from vsr.backends.base import Backend

__all__ = ["HostBackend"]


class HostBackend(Backend):
    """A backend on host memory: :meth:`run` takes and returns ``(N, 1, H, W)`` float32 NumPy
    arrays on the CPU (OpenVINO, ONNX Runtime). ``device`` is ``"cpu"``, ``dtype`` ``np.float32``."""

    device: str = "cpu"
    dtype: type = np.float32
    host = True
