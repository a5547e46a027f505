"""OpenVINO on the CPU: bf16 where the CPU computes it natively, compiled once per frame size.

The network runs without its last add (:class:`~vsr.models.export.ResidualGraph`): OpenVINO
computes the residual ``(N, r*r, H, W)``, in bf16 on CPUs with AVX512_BF16 or AMX, and the
input is added back and pixel-shuffled here in float32, so the output keeps float32 precision
where it matters (near-white luma, 10- and 12-bit output). A compiled model is kept per input
shape (a video has one, so compiling happens once per resolution, never per frame).

OpenVINO's own model cache on disk is off unless ``VSR_OPENVINO_CACHE=1``: processes that
fill an empty cache at the same moment (batch jobs, Ray workers, a farm's nodes on one
share) died of SIGBUS, one reading a blob another was still writing (seen 1 in 8 times with
four processes), and compiling these small networks takes about 0.12 s against 0.11 s loaded
from the cache (measured on a 2-core EPYC Zen 4).
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from vsr.backends.base import option_of
from vsr.backends.host import HostBackend
from vsr.backends.loaders import load_graph
from vsr.devices import parse_device
from vsr.errors import BackendError

if TYPE_CHECKING:
    from torch import nn

    from vsr.config import BackendConfig
    from vsr.models.weights import ModelSpec

__all__ = ["OpenVinoBackend", "native_bf16", "auto_rank", "PRECISIONS"]

log = logging.getLogger(__name__)

PRECISIONS = option_of("openvino", "precision").choices  # registered in vsr.backends

# OpenVINO's Python binding (2026.4) initialises function-local statics on its NumPy path (the
# first ``tensor.data`` / ``infer`` of a process) while holding the GIL, and the initialiser
# releases the GIL inside pybind11's call-once for NumPy's C API: a second thread arriving then
# holds the GIL and waits on the static's guard, the first waits for the GIL, and the process
# hangs for good (seen as stalled vsr processes with two inference workers; py-spy shows one
# thread in ``__cxa_guard_acquire``, the other in ``gil_safe_call_once_and_store<npy_api>``).
# The first inference of a process therefore runs alone; every later one runs in parallel.
_FIRST_CALL = threading.Lock()
_warmed = False


def _openvino():
    """``import openvino`` without its model converter: the package's ``__init__`` imports
    ``openvino.tools.ovc`` (and with it telemetry, urllib, multiprocessing), 0.3-0.5 s of a
    one-frame job here, for ``convert_model``, which vsr never uses. The converter stays
    importable by name afterwards (``from openvino.tools.ovc import convert_model``)."""
    import sys

    if "openvino" not in sys.modules and "openvino.tools.ovc" not in sys.modules:
        sys.modules["openvino.tools.ovc"] = None  # the package __init__ skips it on ImportError
        try:
            import openvino
        finally:
            if sys.modules.get("openvino.tools.ovc", 0) is None:
                del sys.modules["openvino.tools.ovc"]
        return openvino
    import openvino

    return openvino


def unavailable(device: str) -> str | None:
    if parse_device(device)[0] != "cpu":
        return "vsr runs OpenVINO on the CPU only (use --backend torch or tensorrt on a GPU)"
    try:
        _openvino()
    except ImportError:
        return "openvino is not installed (pip install openvino)"
    return None


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True when OpenVINO's CPU plugin computes bf16 natively here (AVX512_BF16 or AMX)."""
    ov = _openvino()
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def auto_rank(kind: str, model: str) -> int | None:
    """``--backend auto``: OpenVINO's rank for ``model`` on a CPU, where the model's card ranks
    OpenVINO lower in the precision it computes in here (``backend_ranks``, e.g.
    ``{"openvino:f32": 15}``: a network slower on OpenVINO in f32 than on ONNX Runtime)."""
    from vsr.models.registry import model_card

    if kind != "cpu":
        return None
    return model_card(model).backend_ranks.get(f"openvino:{'bf16' if native_bf16() else 'f32'}")


def _pixel_shuffle(x: np.ndarray, r: int) -> np.ndarray:
    """``(N, r*r, H, W)`` -> ``(N, 1, rH, rW)``, as ``torch.nn.functional.pixel_shuffle``."""
    n, _, h, w = x.shape
    return x.reshape(n, r, r, h, w).transpose(0, 3, 1, 4, 2).reshape(n, 1, h * r, w * r)


class OpenVinoBackend(HostBackend):
    """Runs the residual graph with OpenVINO's CPU plugin.

    Args:
        graph: the residual ONNX graph (``y`` ``(N, 1, H, W)`` -> ``(N, r*r, H, W)``, float32).
        scale: its upscaling factor r.
        threads: inference threads per call (0: OpenVINO's default).
        streams: calls that run at once, each on ``threads`` threads (the pipeline's frames in
            flight). One OpenVINO stream runs one inference at a time, so with one stream two
            worker threads' calls queue behind each other: measured on 2 cores (ESPCN x2,
            480x360, bf16), 2 workers on 1 stream of 1 thread 21 fps, on 2 streams 40 fps.
        precision: ``auto`` (bf16 where native, else f32), ``f32`` or ``bf16``.
        cache_dir: OpenVINO's compiled-model cache folder, or None for none.

    Raises:
        BackendError: ``bf16`` asked for on a CPU without native bf16, or a bad precision.
    """

    name = "openvino"
    thread_safe = True  # compiled models are shared; each thread has its own infer requests

    def __init__(self, graph: bytes, scale: int, threads: int = 0, precision: str = "auto",
                 cache_dir: str | None = None, streams: int = 1) -> None:
        ov = _openvino()
        if precision not in PRECISIONS:
            raise BackendError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        native = native_bf16()
        if precision == "bf16" and not native:
            raise BackendError("this CPU has no native bf16 (AVX512_BF16 or AMX); use --precision f32")
        self.precision = ("bf16" if native else "f32") if precision == "auto" else precision
        self.scale = scale
        self._core = ov.Core()
        if cache_dir:
            self._core.set_property({"CACHE_DIR": str(cache_dir)})
        self._graph = self._core.read_model(graph)
        self._config = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY",
                        "NUM_STREAMS": str(max(1, streams))}
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = str(threads * max(1, streams))  # the total, split per stream
        self._compiled: dict[tuple[int, ...], object] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def _request(self, shape: tuple[int, ...]):
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        if shape not in requests:
            with self._lock:
                compiled = self._compiled.get(shape)
                if compiled is None:  # once per frame size (and batch)
                    graph = self._graph.clone()
                    graph.reshape(list(shape))
                    compiled = self._core.compile_model(graph, "CPU", self._config)
                    self._compiled[shape] = compiled
                    log.info("openvino: compiled for %s in %s", "x".join(map(str, shape)), self.precision)
            requests[shape] = compiled.create_infer_request()
        return requests[shape]

    def run(self, y: np.ndarray) -> np.ndarray:
        """``(N, 1, H, W)`` float32 in [0, 1] -> ``(N, 1, sH, sW)`` float32 (NumPy, host)."""
        global _warmed
        x = np.ascontiguousarray(y, dtype=np.float32)
        request = self._request(tuple(x.shape))
        if _warmed:
            res = request.infer({0: x})[0]
        else:
            with _FIRST_CALL:  # see _FIRST_CALL
                res = request.infer({0: x})[0]
                _warmed = True
        return _pixel_shuffle(res.astype(np.float32, copy=False) + x, self.scale)

    def fork(self) -> "OpenVinoBackend":
        return self

    def close(self) -> None:
        self._compiled.clear()
        self._local = threading.local()


def _cache_dir() -> str | None:
    """``<engine cache>/openvino`` when ``VSR_OPENVINO_CACHE=1``, else None (the default: see the
    module docstring for why)."""
    import os

    from vsr.backends.engine_cache import engine_dir

    if os.environ.get("VSR_OPENVINO_CACHE", "0") != "1":
        return None
    path = engine_dir() / "openvino"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        log.info("openvino: no compile cache (%s)", e)
        return None
    return str(path)


def create(model: "nn.Module | None", spec: "ModelSpec", config: "BackendConfig") -> OpenVinoBackend:
    """From the shipped ``residual`` graph, or one exported from ``model`` when none is shipped."""
    graph = load_graph(spec, "residual", model)
    streams = 1
    if config.threads:  # the pipeline's CPU layout: this many frames at once, ``threads`` each
        from vsr.devices import cpu_parallelism

        streams = cpu_parallelism(config.workers, config.threads)[0]
    return OpenVinoBackend(graph, spec.scale if spec is not None else model.scale, config.threads,
                           config.option("precision"), _cache_dir(), streams)
