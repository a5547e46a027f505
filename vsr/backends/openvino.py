"""OpenVINO on the CPU: int8 or bf16 where the CPU computes them natively, compiled once per frame size.

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

``int8`` runs the shipped int8 graph (``tools/quantize.py``: every convolution but the last in
int8, the input add outside the graph in float32 as above). :func:`resolve_precision` says
what ``auto`` picks.
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
from vsr.devices import STRIP_BYTES, native_int8, parse_device
from vsr.errors import BackendError

if TYPE_CHECKING:
    from torch import nn

    from vsr.config import BackendConfig
    from vsr.models.weights import ModelSpec

__all__ = ["OpenVinoBackend", "precision_note", "native_bf16", "auto_rank", "resolve_precision", "PRECISIONS"]

log = logging.getLogger(__name__)

PRECISIONS = option_of("openvino", "precision").choices  # registered in vsr.backends
# ``auto`` takes the int8 graph only where it was measured at least this much faster than bf16
MIN_INT8_SPEEDUP = 1.1

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


def precision_note(device: str, model: str, bf16: bool) -> tuple[str, str]:
    """``(precision, why)`` OpenVINO computes ``model`` in under ``--precision auto`` (for its clean
    x2 weights: int8 depends on each graph's recorded check); ``bf16``: the CPU has it natively."""
    from vsr.models.weights import list_models

    int8 = next((s.graphs.get("int8") for s in list_models("clean") if s.name == model and s.scale == 2), None)
    precision = resolve_precision("auto", int8, bf16, native_int8())
    if precision == "int8":
        return "int8", ("x2: the CPU computes int8 natively (VNNI/AMX) and the int8 graph lost at most 0.05 dB "
                        "and ran faster than bf16 when made; the input is added back in f32")
    return ("bf16", "the CPU computes bf16 natively (AVX512_BF16 or AMX); the input is added back in f32") \
        if bf16 else ("f32", "no native bf16 on this CPU")


def resolve_precision(requested: str, int8: dict | None, bf16: bool, vnni: bool) -> str:
    """The precision a run computes in.

    Args:
        requested: ``auto``, ``f32``, ``bf16`` or ``int8`` (the last three are kept).
        int8: the shipped int8 graph's manifest entry (``quality.passed``, ``speedup_vs_bf16``),
            or None when there is none.
        bf16: the CPU computes bf16 natively (:func:`native_bf16`).
        vnni: the CPU computes int8 natively (:func:`vsr.devices.native_int8`: VNNI or AMX).

    Returns:
        For ``auto``: ``int8`` where the CPU computes int8 natively, the int8 graph passed its
        quality check (at most 0.05 dB lost on Set5 and Set14) and ran at least
        :data:`MIN_INT8_SPEEDUP` times bf16's speed where it was made; else ``bf16`` where
        native; else ``f32`` (without VNNI int8 is emulated, and f32 is the exact path).
    """
    if requested != "auto":
        return requested
    if vnni and int8 and int8.get("quality", {}).get("passed") and int8.get("speedup_vs_bf16", 0) >= MIN_INT8_SPEEDUP:
        return "int8"
    return "bf16" if bf16 else "f32"


def add_shuffle(res: np.ndarray, y: np.ndarray, r: int) -> np.ndarray:
    """``pixel_shuffle(res + y)`` in float32 (as ``torch.nn.functional.pixel_shuffle``), written
    straight into the output.

    Args:
        res: ``(N, r*r, H, W)`` residual (float32, or bf16-rounded float32).
        y: ``(N, 1, H, W)`` float32 input.

    Returns:
        ``(N, 1, rH, rW)`` float32. Each sub-pixel phase is one add into a strided view of the
        output: one pass over it, where adding then shuffling made three (a 4K output: 171 ->
        45 ms on a shared 2-vCPU Xeon).
    """
    n, _, h, w = res.shape
    out = np.empty((n, 1, h * r, w * r), np.float32)
    phases = out.reshape(n, h, r, w, r)
    step = max(1, STRIP_BYTES // (4 * r * r * w))  # input rows whose output strip stays in cache
    for i in range(0, h, step):
        rows = slice(i, i + step)
        for a in range(r):
            for b in range(r):
                np.add(res[:, a * r + b, rows], y[:, 0, rows], out=phases[:, rows, a, :, b])
    return out


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
        precision: ``auto`` (bf16 where native, else f32), ``f32``, ``bf16`` or ``int8`` (``graph``
            is then the int8 graph; its float layers run in bf16 where native, else f32).
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
        self.precision = resolve_precision(precision, None, native, native_int8())
        self.scale = scale
        self._core = ov.Core()
        if cache_dir:
            self._core.set_property({"CACHE_DIR": str(cache_dir)})
        self._graph = self._core.read_model(graph)
        hint = ("bf16" if native else "f32") if self.precision == "int8" else self.precision
        self._config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY",
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
        return add_shuffle(res, x, self.scale)

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
    """From the shipped ``residual`` graph (``int8``: the shipped int8 graph), or one exported
    from ``model`` when none is shipped.

    Raises:
        BackendError: ``int8`` asked for where no int8 graph is shipped.
    """
    int8 = spec.graphs.get("int8") if spec is not None and model is None else None
    precision = resolve_precision(config.option("precision"), int8, native_bf16(), native_int8())
    if precision == "int8" and int8 is None:
        what = f"{spec.name} x{spec.scale} ({spec.weights})" if spec is not None and model is None else "these weights"
        raise BackendError(f"no int8 graph is shipped for {what}; use --precision bf16 or f32 "
                           "(python -m tools.quantize makes one for shipped weights)")
    graph = spec.graph("int8") if precision == "int8" else load_graph(spec, "residual", model)
    streams = 1
    if config.threads:  # the pipeline's CPU layout: this many frames at once, ``threads`` each
        from vsr.devices import cpu_parallelism

        streams = cpu_parallelism(config.workers, config.threads)[0]
    return OpenVinoBackend(graph, spec.scale if spec is not None else model.scale, config.threads,
                           precision, _cache_dir(), streams)
