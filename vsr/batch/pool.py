"""One loaded backend per model, shared by the jobs of a batch.

ONNX Runtime's ``InferenceSession.run`` is documented thread-safe (concurrent calls share
the session's thread pool); the torch backend's ``run`` is a forward pass under
``inference_mode`` that changes no state, so concurrent calls are safe too. A backend
that offers ``fork()`` (its own execution state over shared weights or engine: one
TensorRT execution context per job, CUDA graphs of its own per job) gets one per job;
any other backend is serialised by a lock held until its output is ready.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vsr.config import UpscaleConfig

__all__ = ["BackendPool"]

_THREAD_SAFE = {"onnxruntime"}  # torch and tensorrt offer fork()


class _Serialised:
    """A backend that is not safe to call concurrently, behind a lock.

    On CUDA the lock is held until the output is ready, so one execution's device state
    is never reused while another is still in flight.
    """

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def run(self, y: Any) -> Any:
        with self._lock:
            out = self._backend.run(y)
            if getattr(out, "is_cuda", False):
                import torch

                torch.cuda.current_stream(out.device).synchronize()
            return out

    def close(self) -> None:
        self._backend.close()


class BackendPool:
    """One loaded backend per (model, backend config), shared by every job in a process.

    :meth:`get` loads on first use (under a lock, so two jobs never load the same model
    twice) and returns a ``(backend, radius)`` pair for ``upscale_video(backend=...)``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple, tuple[Any, int]] = {}

    def get(self, config: UpscaleConfig) -> tuple[Any, int]:
        from vsr.pipeline import load_backend

        key = (config.model, config.backend)
        with self._lock:
            if key not in self._loaded:
                backend, radius = load_backend(config.model, config.backend)
                if not callable(getattr(backend, "fork", None)) and backend.name not in _THREAD_SAFE:
                    backend = _Serialised(backend)
                self._loaded[key] = (backend, radius)
            backend, radius = self._loaded[key]
        fork = getattr(backend, "fork", None)
        return (fork() if callable(fork) else backend), radius

    def release(self, view: Any) -> None:
        """Give back what :meth:`get` returned (closes a per-job fork)."""
        if not any(view is b for b, _ in self._loaded.values()):
            view.close()

    def close(self) -> None:
        with self._lock:
            for backend, _ in self._loaded.values():
                backend.close()
            self._loaded.clear()
