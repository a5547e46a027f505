"""TensorRT on a CUDA GPU: a strongly typed FP16 engine, built once per GPU and cached.

The network is exported to ONNX with FP16 inside the graph (weights, activations,
input and output), parsed into a strongly typed TensorRT network and built for a
range of input shapes (:class:`~vsr.backends.engine_cache.ShapeProfile`). The same
code path serves TensorRT 10 (where strong typing is opted into with a creation
flag) and TensorRT 11 (where it is the only mode and precision builder flags are
gone). Engines are cached by :class:`~vsr.backends.engine_cache.EngineCache`.

TensorRT is imported lazily: importing this module never needs it. All CUDA memory
and streams come from PyTorch.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

import torch

from vsr.backends.base import TensorBackend
from vsr.backends.loaders import load_module
from vsr.backends.engine_cache import EngineCache, EngineKey, ShapeProfile
from vsr.output import atomic_write
from vsr.devices import cuda_unavailable, parse_device
from vsr.errors import BackendError, cause
from vsr.models.export import export_onnx

if TYPE_CHECKING:
    from torch import nn

    from vsr.config import BackendConfig
    from vsr.models.weights import ModelSpec

__all__ = ["TensorRTBackend", "EngineLoader", "build_engine", "hash_weights"]

log = logging.getLogger(__name__)

INSTALL_HINT = "TensorRT is not installed (pip install vsr-luma[tensorrt])"
_ALIGNMENT = 256  # bytes: what IExecutionContext.set_tensor_address requires of a pointer


def _import_trt() -> Any:
    """The ``tensorrt`` module.

    Raises:
        BackendError: not installed, or installed but unusable.
    """
    try:
        import tensorrt as trt
    except ImportError as e:
        if getattr(e, "name", None) == "tensorrt":
            raise BackendError(INSTALL_HINT) from e
        raise BackendError(f"TensorRT is installed but does not import ({cause(e)})") from e
    except OSError as e:  # a shared library of TensorRT or CUDA is missing
        raise BackendError(f"TensorRT is installed but does not load ({cause(e)})") from e
    return trt


def unavailable(device: str) -> str | None:
    try:
        kind = parse_device(device)[0]
    except BackendError as e:
        return str(e)
    if kind != "cuda":
        return "TensorRT needs a CUDA GPU (--device cuda)"
    try:
        _import_trt()
    except BackendError as e:
        return str(e)
    return cuda_unavailable(device)


def precision_note(device: str, model: str, bf16: bool) -> tuple[str, str]:
    """``(precision, why)`` for ``vsr info``: strongly typed FP16 engines."""
    return "fp16", "half precision on the GPU"


@functools.lru_cache(maxsize=None)
def _logger() -> Any:
    """The process-wide TensorRT logger, forwarding to Python logging.

    TensorRT treats the logger as a singleton, so one instance serves every builder
    and runtime.
    """
    trt = _import_trt()
    sev = trt.ILogger.Severity
    levels = {sev.INTERNAL_ERROR: logging.ERROR, sev.ERROR: logging.ERROR, sev.WARNING: logging.WARNING,
              sev.INFO: logging.DEBUG}
    trt_log = logging.getLogger("vsr.tensorrt")

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            if severity != sev.VERBOSE:  # thousands of lines per build: dropped
                trt_log.log(levels.get(severity, logging.DEBUG), "%s", msg)

    return _Logger()


def hash_weights(model: "nn.Module") -> str:
    """SHA-256 over a model's parameters and buffers (names, shapes, dtypes and values).

    Identifies weights that have no shipped :class:`~vsr.models.weights.ModelSpec`.
    """
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _strongly_typed_flags(trt: Any) -> int:
    """Network creation flags: STRONGLY_TYPED where the flag exists (TensorRT 10; in 11
    it is deprecated and ignored, strong typing being the only mode), else none."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def _read_timing_cache(path: Any) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as e:
        log.warning("ignoring unreadable timing cache %s: %s", path, e)
        return b""


def build_engine(onnx: bytes, profile: ShapeProfile, timing_cache: Any = None) -> bytes:
    """Build a serialised engine from an FP16 ONNX graph on the current CUDA device.

    Args:
        onnx: graph with one input ``(N, 1, H, W)`` and one output, FP16 throughout
            (``export_onnx(model, fp16=True)``).
        profile: input shapes the engine accepts.
        timing_cache: path of a TensorRT timing cache to read and update (optional).

    Raises:
        BackendError: TensorRT missing, the graph does not parse or is not FP16, or the build fails.
    """
    trt = _import_trt()
    logger = _logger()
    builder = trt.Builder(logger)
    network = builder.create_network(_strongly_typed_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx):
        errors = "; ".join(str(parser.get_error(i)).strip().replace("\n", " ") for i in range(parser.num_errors))
        raise BackendError(f"TensorRT could not parse the exported ONNX graph: {errors or 'no details'}")
    if network.num_inputs != 1 or network.num_outputs != 1:
        raise BackendError(f"expected a graph with 1 input and 1 output, got {network.num_inputs} and "
                           f"{network.num_outputs}")
    inp, out = network.get_input(0), network.get_output(0)
    if inp.dtype != trt.DataType.HALF or out.dtype != trt.DataType.HALF:
        raise BackendError(f"the ONNX graph must be FP16 end to end for a strongly typed engine "
                           f"(input {inp.dtype}, output {out.dtype})")

    config = builder.create_builder_config()
    shapes = builder.create_optimization_profile()
    shapes.set_shape(inp.name, *((n, 1, h, w) for n, h, w in (profile.min, profile.opt, profile.max)))
    config.add_optimization_profile(shapes)

    cache = None
    if timing_cache is not None:
        try:
            cache = config.create_timing_cache(_read_timing_cache(timing_cache))
            ok = cache is not None and config.set_timing_cache(cache, False) is not False
        except (RuntimeError, TypeError, ValueError):
            ok = False
        if not ok:
            log.warning("timing cache %s does not fit this TensorRT/GPU; starting a new one", timing_cache)
            cache = config.create_timing_cache(b"")
            config.set_timing_cache(cache, False)

    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError("TensorRT failed to build the engine; its log above says why (-vv shows all of it)")
    log.info("built TensorRT engine in %.1f s", time.perf_counter() - start)
    if cache is not None:
        # written whole (atomic rename); two builds of different engines at once may each
        # write theirs, and the last one wins: a later build only re-times a few layers
        try:
            atomic_write(timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
        except OSError as e:
            log.warning("could not save the timing cache %s: %s", timing_cache, e)
    return bytes(memoryview(plan))


def _cuda_facts(index: int) -> tuple[str, str, str]:
    """(GPU name, compute capability, CUDA runtime version) of a device."""
    major, minor = torch.cuda.get_device_capability(index)
    return torch.cuda.get_device_name(index), f"{major}.{minor}", str(torch.version.cuda)


class EngineLoader:
    """The loader of a TensorRT runner: the FP16 graph of a model, its cache key, and the engine
    built once per GPU and shape range or loaded from the cache (rebuilt when a cached one no
    longer loads).

    Args:
        model: float32 network in eval mode (not modified).
        device: ``cuda`` or ``cuda:N``.
        profile: input shapes the engine accepts (:meth:`ShapeProfile.for_frames`).
        weights_sha256: identity of the weights for the cache key (default: hashed from ``model``).
        name: model name for the cache file (default: the class name, lower case).
        cache: where engines are kept (default: :class:`EngineCache` in :func:`engine_dir`). The
            cache ``key`` and the ``engine_path`` are attributes.
    """

    def __init__(self, model: "nn.Module", device: str = "cuda", profile: ShapeProfile | None = None, *,
                 weights_sha256: str | None = None, name: str | None = None,
                 cache: EngineCache | None = None) -> None:
        trt = _import_trt()
        self.device = torch.device("cuda", parse_device(device)[1])
        self.scale = int(model.scale)
        self.profile = profile or ShapeProfile.for_frames()
        self.cache = cache or EngineCache()
        self.onnx = export_onnx(model, fp16=True)
        gpu, capability, cuda = _cuda_facts(self.device.index)
        self.key = EngineKey(
            model=name or type(model).__name__.lower(), scale=self.scale,
            weights_sha256=weights_sha256 or hash_weights(model),
            onnx_sha256=hashlib.sha256(self.onnx).hexdigest(), profile=self.profile, precision="fp16",
            tensorrt=str(trt.__version__), gpu=gpu, compute_capability=capability, cuda=cuda,
        )
        self.engine_path = self.cache.engine_path(self.key)

    def _build(self) -> bytes:
        log.info("building TensorRT engine %s (once per GPU and shape range)", self.engine_path.name)
        return build_engine(self.onnx, self.profile, self.cache.timing_cache_path(self.key))

    def load(self) -> tuple[Any, Any, bool]:
        """``(runtime, engine, built)`` on the loader's GPU; ``built`` False when it came from the cache.

        Raises:
            BackendError: the build fails, or the engine does not load.
        """
        trt = _import_trt()
        with torch.cuda.device(self.device):
            plan, built = self.cache.get_or_build(self.key, self._build)
            runtime = trt.Runtime(_logger())
            engine = runtime.deserialize_cuda_engine(plan)
            if engine is None and not built:
                log.warning("cached engine %s does not load; rebuilding", self.engine_path)
                self.cache.remove(self.key)
                plan, built = self.cache.get_or_build(self.key, self._build)
                engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise BackendError(f"TensorRT could not load the engine {self.engine_path}")
        return runtime, engine, built


class TensorRTBackend(TensorBackend):
    """Runs a network as a cached FP16 TensorRT engine on one GPU (the runner; the engine
    comes from :class:`EngineLoader`).

    Args:
        model, device, profile, weights_sha256, name, cache: as for :class:`EngineLoader`.

    Attributes:
        max_size: ``(max_w, max_h)`` of the luma the engine accepts; the upscaler tiles
            larger frames.
        max_batch: most frames per engine call (:meth:`run` splits larger batches).
        engine_path: the cached engine file.
        built: whether this instance built the engine (False: loaded from the cache).
    """

    name = "tensorrt"
    dtype = torch.float16
    thread_safe = False  # one execution context: concurrent jobs take a fork() each

    def __init__(
        self,
        model: "nn.Module",
        device: str = "cuda",
        profile: ShapeProfile | None = None,
        *,
        weights_sha256: str | None = None,
        name: str | None = None,
        cache: EngineCache | None = None,
    ) -> None:
        why = unavailable(device)
        if why is not None:
            raise BackendError(f"backend tensorrt cannot run on {device}: {why}")
        loader = EngineLoader(model, device, profile, weights_sha256=weights_sha256, name=name, cache=cache)
        self.device, self.scale, self.profile = loader.device, loader.scale, loader.profile
        self.max_batch, max_h, max_w = self.profile.max
        self.max_size = (max_w, max_h)
        self._cache, self.key, self.engine_path = loader.cache, loader.key, loader.engine_path
        self._runtime, self._engine, self.built = loader.load()
        with torch.cuda.device(self.device):
            self._context = self._engine.create_execution_context()
        if self._context is None:
            raise BackendError("TensorRT could not create an execution context (out of GPU memory?)")
        trt = _import_trt()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise BackendError(f"engine {self.engine_path} has inputs {inputs} and outputs {outputs}; "
                               "expected one of each")
        self._input, self._output = inputs[0], outputs[0]

    def _check(self, y: torch.Tensor) -> None:
        if y.dim() != 4 or y.shape[1] != 1:
            raise BackendError(f"expected luma of shape (N, 1, H, W), got {tuple(y.shape)}")
        if y.dtype != self.dtype or y.device != self.device:
            raise BackendError(f"expected float16 luma on {self.device}, got {y.dtype} on {y.device}")
        _, _, h, w = y.shape
        max_w, max_h = self.max_size
        if h > max_h or w > max_w:
            raise BackendError(
                f"frame {w}x{h} is larger than this TensorRT engine accepts ({max_w}x{max_h}); "
                f"use --tile or rebuild the engine with a larger --max-size (e.g. --max-size {w}x{h})"
            )
        if not self.profile.accepts(1, h, w):
            raise BackendError(f"frame {w}x{h} is outside the engine's shape range {self.profile}")

    @torch.inference_mode()
    def run(self, y: torch.Tensor) -> torch.Tensor:
        """Upscale luma on the GPU, on PyTorch's current stream (callers choose the stream).

        Args:
            y: ``(N, 1, H, W)`` float16 on ``self.device``, in [0, 1], with H, W within
                :attr:`max_size`; batches above :attr:`max_batch` run in parts.

        Returns:
            ``(N, 1, scale*H, scale*W)`` float16 on ``self.device`` (not clamped). It is
            ready once the current stream reaches this point.

        Raises:
            BackendError: wrong shape, dtype or device, or a frame larger than the engine.
        """
        self._check(y)
        if y.shape[0] > self.max_batch:
            return torch.cat([self.run(part) for part in y.split(self.max_batch)])
        with torch.cuda.device(self.device):  # the context belongs to the device it was made on
            return self._enqueue(y.contiguous())

    def _enqueue(self, y: torch.Tensor) -> torch.Tensor:
        n, _, h, w = y.shape
        ctx = self._context
        if not ctx.set_input_shape(self._input, (n, 1, h, w)):
            raise BackendError(f"TensorRT rejected the input shape {(n, 1, h, w)}")
        shape = (n, 1, self.scale * h, self.scale * w)
        if tuple(ctx.get_tensor_shape(self._output)) != shape:
            raise BackendError(f"engine output shape {tuple(ctx.get_tensor_shape(self._output))} is not {shape}")
        if y.data_ptr() % _ALIGNMENT:  # a batch part or a tile that is a view into a larger tensor
            y = y.clone()
        out = torch.empty(shape, dtype=self.dtype, device=self.device)  # the allocator aligns to 512 bytes
        if not (ctx.set_tensor_address(self._input, y.data_ptr())
                and ctx.set_tensor_address(self._output, out.data_ptr())):
            raise BackendError("TensorRT refused a tensor address (it needs 256-byte alignment)")
        stream = torch.cuda.current_stream(self.device)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise BackendError("TensorRT failed to run the engine; its log above says why")
        return out

    def fork(self) -> "TensorRTBackend":
        """A backend that shares this engine but has its own execution context.

        Concurrent jobs (``vsr batch --jobs N``) each run on their own context and
        CUDA streams over one engine in GPU memory. Closing a fork releases only its
        context.
        """
        twin = copy.copy(self)
        with torch.cuda.device(self.device):
            twin._context = self._engine.create_execution_context()
        if twin._context is None:
            raise BackendError("TensorRT could not create another execution context (out of GPU memory?)")
        return twin

    def close(self) -> None:
        """Release the execution context, engine and runtime (in that order), once the work
        queued on the current stream has finished with them."""
        if self._context is not None:
            with torch.cuda.device(self.device):
                torch.cuda.current_stream(self.device).synchronize()
        self._context = None
        self._engine = None
        self._runtime = None


def create(model: "nn.Module | None", spec: "ModelSpec | None", config: "BackendConfig") -> TensorRTBackend:
    model = load_module(spec, model)
    profile = ShapeProfile.for_frames(config.option("max_size"), max(1, config.batch))
    return TensorRTBackend(
        model, config.device, profile,
        weights_sha256=spec.sha256 if spec is not None else None,
        name=spec.name if spec is not None else None,
    )
