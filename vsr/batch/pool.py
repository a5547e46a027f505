"""One loaded backend per model, shared by the jobs of a batch.

Each backend declares what it allows (:class:`vsr.backends.Backend`): a ``thread_safe``
one (ONNX Runtime, OpenVINO, PyTorch without CUDA graphs) is shared by every job; any
other gets a ``fork()`` per job (its own execution state over shared weights or engine:
one TensorRT execution context, CUDA graphs of its own); one whose fork is itself is
serialised by a lock held until its output is ready.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from vsr.backends.base import LoadedBackend

if TYPE_CHECKING:
    from vsr.config import UpscaleConfig

__all__ = ["BackendPool"]


class _Serialised:
    """A backend that is not safe to call concurrently, behind a lock.

    On CUDA the lock is held until the output is ready, so one execution's device state
    is never reused while another is still in flight.
    """

    thread_safe = True  # made so by the lock

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._lock = threading.Lock()

    def fork(self) -> "_Serialised":
        return self

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
    twice) and returns a :class:`~vsr.backends.LoadedBackend` for ``upscale_video(loaded=...)``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple, LoadedBackend] = {}

    def get(self, config: UpscaleConfig) -> LoadedBackend:
        from vsr.pipeline import load_backend

        key = (config.model, config.backend)
        with self._lock:
            if key not in self._loaded:
                loaded = load_backend(config.model, config.backend)
                probe = loaded.backend if loaded.backend.thread_safe else loaded.backend.fork()
                if probe is loaded.backend and not loaded.backend.thread_safe:
                    loaded = loaded._replace(backend=_Serialised(loaded.backend))
                elif probe is not loaded.backend:
                    probe.close()
                self._loaded[key] = loaded
            loaded = self._loaded[key]
        backend = loaded.backend
        return LoadedBackend(backend if backend.thread_safe else backend.fork(), loaded.radius)

    def release(self, view: Any) -> None:
        """Give back what :meth:`get` returned (closes a per-job fork)."""
        if not any(view is b for b, _ in self._loaded.values()):
            view.close()

    def close(self) -> None:
        with self._lock:
            for backend, _ in self._loaded.values():
                backend.close()
            self._loaded.clear()
