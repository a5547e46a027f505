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

__all__ = ["register_model", "list_architectures", "build_model", "check_architecture", "SCALES"]

SCALES = (2, 3, 4)

_BUILDERS: dict[str, Callable[[int], "nn.Module"]] = {}


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
    """Names of all registered architectures, sorted."""
    return sorted(_BUILDERS)


def check_architecture(name: str) -> None:
    """The one place an unknown model name is refused.

    Raises:
        ModelError: ``name`` is not a registered architecture.
    """
    if name not in _BUILDERS:
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
    return _BUILDERS[name](scale)
