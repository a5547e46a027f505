"""The Backend protocol and its registry (a backend is a new file plus a registration)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

from vsr.devices import parse_device, resolve_device
from vsr.errors import BackendError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vsr.config import BackendConfig
    from vsr.models.weights import ModelSpec

__all__ = ["Backend", "BackendEntry", "register_backend", "create_backend", "list_backends", "resolve_name"]


class Backend(Protocol):
    """A runner for one network at one scale.

    Attributes:
        name: registry name.
        scale: upscaling factor.
        device: where :meth:`run` expects its input and returns its output.
        dtype: the input dtype it computes in (float16 on GPUs, float32 on CPUs).
    """

    name: str
    scale: int
    device: "torch.device"
    dtype: "torch.dtype"

    def run(self, y: "torch.Tensor") -> "torch.Tensor":
        """Upscale a batch of luma planes.

        Args:
            y: ``(N, 1, H, W)`` luma in [0, 1], ``self.dtype`` on ``self.device``, contiguous.

        Returns:
            ``(N, 1, scale*H, scale*W)`` on ``self.device``, ``self.dtype``; not clamped.
        """
        ...

    def close(self) -> None:
        """Release sessions, engines and device memory."""
        ...


Factory = Callable[["nn.Module", "ModelSpec", "BackendConfig"], Backend]


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend.

    Attributes:
        name: ``--backend`` value.
        factory: builds a :class:`Backend` from a loaded float32 CPU model.
        unavailable: returns why it cannot run on a device string (``"cpu"``,
            ``"cuda:0"``), or None when it can. Must import lazily and never raise.
        rank: preference for ``--backend auto`` per device kind (``"cpu"``, ``"cuda"``),
            higher first; a kind not listed is never picked automatically.
    """

    name: str
    factory: Factory
    unavailable: Callable[[str], str | None]
    rank: dict[str, int]


_BACKENDS: dict[str, BackendEntry] = {}


def register_backend(
    name: str, unavailable: Callable[[str], str | None], rank: dict[str, int]
) -> Callable[[Factory], Factory]:
    """Register a backend factory under ``name``; duplicate names are an error."""

    def deco(factory: Factory) -> Factory:
        if name in _BACKENDS:
            raise ValueError(f"backend {name!r} is already registered")
        _BACKENDS[name] = BackendEntry(name, factory, unavailable, rank)
        return factory

    return deco


def list_backends() -> list[BackendEntry]:
    """Registered backends, sorted by name."""
    return sorted(_BACKENDS.values(), key=lambda e: e.name)


def resolve_name(name: str, device: str) -> str:
    """The backend ``name`` means on ``device``: ``auto`` picks the best available.

    Raises:
        BackendError: unknown name, or the named backend cannot run on ``device``.
    """
    if name == "auto":
        kind = parse_device(device)[0]
        ranked = sorted((e for e in _BACKENDS.values() if kind in e.rank), key=lambda e: -e.rank[kind])
        why = []
        for entry in ranked:
            reason = entry.unavailable(device)
            if reason is None:
                return entry.name
            why.append(f"{entry.name}: {reason}")
        raise BackendError(f"no backend can run on {device} ({'; '.join(why)})")
    if name not in _BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose auto or one of: {', '.join(sorted(_BACKENDS))}")
    why = _BACKENDS[name].unavailable(device)
    if why is not None:
        raise BackendError(f"backend {name} cannot run on {device}: {why}")
    return name


def create_backend(model: "nn.Module", spec: "ModelSpec", config: "BackendConfig") -> Backend:
    """Build the backend ``config`` names (``auto`` resolved) for a loaded model."""
    from dataclasses import replace

    config = replace(config, device=resolve_device(config.device))
    name = resolve_name(config.name, config.device)
    return _BACKENDS[name].factory(model, spec, config)
