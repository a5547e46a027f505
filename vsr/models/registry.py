"""Model registry: ``@register_model`` plus explicit imports, one ``create_model``.

An architecture registers a builder ``(scale) -> nn.Module``. Shipped weights are
described by :class:`ModelSpec` records in :mod:`vsr.models.weights`, whose
:func:`~vsr.models.weights.create_model` is the one factory of trained networks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from vsr.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["register_model", "declare_model", "list_architectures", "build_model", "check_architecture", "SCALES"]

SCALES = (2, 3, 4)

_BUILDERS: dict[str, Callable[[int], "nn.Module"]] = {}
_MODULES: dict[str, str] = {}  # declared architectures -> the module that registers their builder


def declare_model(name: str, module: str) -> None:
    """Make architecture ``name`` known without importing it (nor PyTorch): ``module`` registers
    its builder with :func:`register_model` when :func:`build_model` first needs it."""
    _MODULES[name] = module


def register_model(name: str) -> Callable[[Callable[[int], "nn.Module"]], Callable[[int], "nn.Module"]]:
    """Register an architecture builder under ``name``.

    Raises:
        ValueError: if ``name`` is already registered.
    """

    def deco(builder: Callable[[int], "nn.Module"]) -> Callable[[int], "nn.Module"]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return deco


def list_architectures() -> list[str]:
    """Names of all registered or declared architectures, sorted."""
    return sorted(set(_BUILDERS) | set(_MODULES))


def check_architecture(name: str) -> None:
    """The one place an unknown model name is refused.

    Raises:
        ModelError: ``name`` is not a registered architecture.
    """
    if name not in _BUILDERS and name not in _MODULES:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(list_architectures())}")


def build_model(name: str, scale: int) -> "nn.Module":
    """A freshly initialised (untrained) network.

    Args:
        name: a registered architecture, e.g. ``"espcn"``.
        scale: upscaling factor, one of :data:`SCALES`.
    """
    check_architecture(name)
    if scale not in SCALES:
        raise ModelError(f"unsupported scale {scale}; choose one of: {', '.join(map(str, SCALES))}")
    if name not in _BUILDERS:
        import importlib

        importlib.import_module(_MODULES[name])  # registers the builder (and imports PyTorch)
    return _BUILDERS[name](scale)
