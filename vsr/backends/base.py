"""The Backend protocol and its registry (a backend is a new file plus a registration line in
:mod:`vsr.backends`; no backend module is imported until that backend is asked about)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from vsr.backends.options import BackendOption, check_options, merged_options
from vsr.devices import nvidia_driver_present, parse_device, register_device_kind, resolve_device
from vsr.errors import BackendError, missing_torch

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vsr.config import BackendConfig
    from vsr.models.weights import ModelSpec

__all__ = ["Backend", "TensorBackend", "BackendEntry", "LoadedBackend", "register_backend", "create_backend", "list_backends", "backend_names",
           "resolve_name", "backend_options", "option_of"]


class Backend:
    """A runner for one network at one scale; it declares what the pipeline may do with it.

    Subclass :class:`vsr.backends.host.HostBackend` (NumPy arrays on the CPU) or
    :class:`TensorBackend` (torch tensors on a device); the class attributes below are the
    defaults a backend overrides.

    Attributes:
        name: registry name.
        scale: upscaling factor.
        device: where :meth:`run` expects its input and returns its output.
        dtype: the input dtype it computes in.
        thread_safe: :meth:`run` may be called from several threads at once (the batch
            pool then shares one instance between jobs).
        max_size: ``(width, height)`` of the largest luma :meth:`run` accepts (a TensorRT
            engine's profile), None for any; the upscaler tiles larger frames.
        cuda_graphs: it replays captured CUDA graphs.
        host: :meth:`run` takes and returns NumPy arrays (the upscaler then works in NumPy and
            PyTorch is never imported); else torch tensors.
        precision: what it computes in (``f32``, ``bf16``, ``fp16``), "" where it does not say.
    """

    name: str = ""
    scale: int = 1
    device: Any = "cpu"
    dtype: Any
    thread_safe: bool = True
    max_size: tuple[int, int] | None = None
    cuda_graphs: bool = False
    host: bool = True
    precision: str = ""

    def run(self, y: Any) -> Any:
        """Upscale a batch of luma planes.

        Args:
            y: ``(N, 1, H, W)`` luma in [0, 1], ``self.dtype`` on ``self.device``, contiguous.

        Returns:
            ``(N, 1, scale*H, scale*W)`` on ``self.device``, ``self.dtype``; not clamped.
        """
        raise NotImplementedError

    def fork(self) -> "Backend":
        """The backend for one more concurrent job: ``self`` when it is thread-safe or has
        no per-job state to give, else a twin with execution state of its own (a TensorRT
        context, CUDA graphs) over the same weights. Closing a twin releases only its state."""
        return self

    def close(self) -> None:
        """Release sessions, engines and device memory."""


class TensorBackend(Backend):
    """A backend on torch tensors: :meth:`run` takes and returns ``(N, 1, H, W)`` tensors of
    ``dtype`` (a ``torch.dtype``: float16 on GPUs, float32 on CPUs) on ``device`` (a
    ``torch.device``), on PyTorch's current stream (PyTorch, TensorRT)."""

    device: "torch.device"
    dtype: "torch.dtype"
    host = False


class LoadedBackend(NamedTuple):
    """A backend ready to run one model, with what the upscaler needs to know of the model.

    Attributes:
        backend: the runner.
        radius: the model's receptive radius in low-resolution pixels (tile overlap).
    """

    backend: Backend
    radius: int


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: what the registry knows before its module is imported.

    Attributes:
        name: ``--backend`` value.
        module: the module that implements it (imported only when the backend is asked about).
        rank: preference for ``--backend auto`` per device kind (``"cpu"``, ``"cuda"``),
            higher first; the kinds listed are the devices it runs on.
        summary: one line for ``--help`` and ``vsr info``.
        options: its own options (:class:`~vsr.backends.options.BackendOption`).
    """

    name: str
    module: str
    rank: dict[str, int]
    summary: str
    options: tuple[BackendOption, ...] = ()

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(self.rank)

    def _impl(self):
        import importlib

        return importlib.import_module(self.module)

    def unavailable(self, device: str) -> str | None:
        """Why it cannot run on ``device`` (``"cpu"``, ``"cuda:0"``), or None when it can (the
        module's own words: it says which devices it runs on, and what to use instead)."""
        if set(self.rank) == {"cuda"} and not nvidia_driver_present():  # a CUDA-only backend: the GPU comes first
            return "it needs an NVIDIA GPU, and this machine has none (see 'vsr info' for what it can run)"
        try:
            impl = self._impl()
        except ImportError as e:  # PyTorch is an extra: the backends built on it say so
            if missing_torch(e):
                return "it needs PyTorch, which is not installed (pip install 'vsr-luma[torch]')"
            raise
        return impl.unavailable(device)

    def create(self, model: "nn.Module | None", spec: "ModelSpec", config: "BackendConfig") -> Backend:
        """The module's ``create(model, spec, config)`` (``model`` may be None), with ``config.options``
        checked against this backend's options and completed with their defaults."""
        from dataclasses import replace

        options = check_options(self.name, config.device, self.options, dict(config.options), _owners())
        return self._impl().create(model, spec, replace(config, options=options))

    def precision_note(self, device: str, model: str, bf16: bool) -> tuple[str, str]:
        """``(precision, why)`` it computes ``model`` in on ``device`` under its defaults, for
        ``vsr info`` (``bf16``: the CPU computes bf16 natively): the module's optional
        ``precision_note(device, model, bf16)``, else what the runner says once built."""
        hook = getattr(self._impl(), "precision_note", None)
        return hook(device, model, bf16) if hook is not None else ("-", f"{self.name} does not say")

    def rank_for(self, kind: str, model: str | None) -> int:
        """Its ``--backend auto`` rank on ``kind`` for ``model``: the registered rank, unless the
        model's card (``backend_ranks[name]``) or the module's optional ``auto_rank(kind, model)
        -> int | None`` puts it lower (a backend whose speed against the others depends on the
        network or the CPU)."""
        rank = self.rank[kind]
        if model is None:
            return rank
        from vsr.models.registry import model_card

        ranks = [model_card(model).backend_ranks.get(self.name)]
        hook = getattr(self._impl(), "auto_rank", None)
        ranks.append(hook(kind, model) if hook is not None else None)
        return min([rank] + [r for r in ranks if r is not None])  # never above the registered one


_BACKENDS: dict[str, BackendEntry] = {}


def register_backend(name: str, module: str, rank: dict[str, int], summary: str,
                     options: tuple[BackendOption, ...] | list[BackendOption] = ()) -> None:
    """Register a backend implemented by ``module``, which defines ``unavailable(device) ->
    str | None`` (lazy imports, never raises) and ``create(model, spec, config) -> Backend``.

    ``rank``'s keys are the device kinds it runs on (``cpu``, ``cuda``, or a new kind, which
    ``--device KIND[:N]`` then accepts); ``options`` are its own options (``--precision`` ...).
    Nothing is imported here. Duplicate names are an error."""
    if name in _BACKENDS:
        raise ValueError(f"backend {name!r} is already registered")
    entry = BackendEntry(name, module, dict(rank), summary, tuple(options))
    merged_options({**{e.name: e.options for e in _BACKENDS.values()}, name: entry.options})  # kinds agree
    for kind in entry.rank:
        register_device_kind(kind)
    _BACKENDS[name] = entry


def backend_options() -> dict[str, BackendOption]:
    """Every registered backend's options, one per name (the CLI's flags, ``upscale_video``'s keywords)."""
    return merged_options({e.name: e.options for e in _BACKENDS.values()})


def option_of(backend: str, name: str) -> BackendOption:
    """The option ``name`` as ``backend`` registered it (its choices, its default)."""
    return next(o for o in _BACKENDS[backend].options if o.name == name)


def _owners() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in sorted(_BACKENDS.values(), key=lambda e: e.name):
        for o in e.options:
            out.setdefault(o.name, []).append(e.name)
    return out


def list_backends() -> list[BackendEntry]:
    """Registered backends, sorted by name."""
    return sorted(_BACKENDS.values(), key=lambda e: e.name)


def backend_names() -> list[str]:
    """``--backend`` choices: ``auto`` and every registered name."""
    return ["auto", *sorted(_BACKENDS)]


def resolve_name(name: str, device: str, model: str | None = None) -> str:
    """The backend ``name`` means on ``device``: ``auto`` picks the best available (for
    ``model``, e.g. ``"espcn"``, where a backend ranks itself per network).

    Raises:
        BackendError: unknown name, or the named backend cannot run on ``device``.
    """
    if name == "auto":
        kind = parse_device(device)[0]
        why, best, best_rank = [], None, None
        for entry in sorted((e for e in _BACKENDS.values() if kind in e.rank), key=lambda e: -e.rank[kind]):
            if best is not None and entry.rank[kind] <= best_rank:
                break  # nothing further down can beat it: those modules are never imported
            reason = entry.unavailable(device)
            if reason is not None:
                why.append(f"{entry.name}: {reason}")
                continue
            rank = entry.rank_for(kind, model)
            if best is None or rank > best_rank:
                best, best_rank = entry, rank
        if best is not None:
            return best.name
        raise BackendError(f"no backend can run on {device} ({'; '.join(why)})")
    if name not in _BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose auto or one of: {', '.join(sorted(_BACKENDS))}")
    why = _BACKENDS[name].unavailable(device)
    if why is not None:
        raise BackendError(f"backend {name} cannot run on {device}: {why}")
    return name


def create_backend(model: "nn.Module | None", spec: "ModelSpec", config: "BackendConfig") -> Backend:
    """Build the backend ``config`` names (``auto`` resolved) for ``spec``'s weights.

    Args:
        model: the network already created, or None (a backend that needs a PyTorch module
            creates it; the host backends run the shipped ONNX graphs without one).
    """
    from dataclasses import replace

    config = replace(config, device=resolve_device(config.device))
    name = resolve_name(config.name, config.device, spec.name if spec is not None else None)
    return _BACKENDS[name].create(model, spec, replace(config, name=name))
