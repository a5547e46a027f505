"""Model registry: each architecture's contract (:class:`ModelCard`), declared with one line in
:mod:`vsr.models`, and its builder, registered by ``@register_model`` when its module is imported.

The card says what the rest of vsr may rely on without importing PyTorch: the scales, the
inference forms (export and OpenVINO need ``residual()``), the widest activation (the upscaler's
memory budget) and backend preferences. Shipped weights are described by :class:`ModelSpec`
records in :mod:`vsr.models.weights`, whose :func:`~vsr.models.weights.create_model` is the one
factory of trained networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from vsr.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ModelCard", "register_model", "declare_model", "list_architectures", "model_card", "build_model",
           "check_architecture", "all_scales", "FORMS"]

# inference forms an architecture may offer: ``direct`` (input ``(N, 1, H, W)`` -> ``(N, 1, rH, rW)``),
# ``residual`` (-> ``(N, r*r, H, W)``, what is added to the input before the pixel shuffle: the
# module has ``residual(y)`` and ``forward(y) == pixel_shuffle(residual(y) + y)``)
FORMS = ("direct", "residual")


@dataclass(frozen=True)
class ModelCard:
    """An architecture's contract, as timm's pretrained configs declare theirs.

    Attributes:
        name: ``--model`` value.
        module: the module whose import registers the builder (``@register_model(name)``);
            imported only when a network is built.
        scales: the upscaling factors it is built for.
        forms: the inference forms it offers (see :data:`FORMS`); every module has a ``scale``
            attribute and a ``direct`` form.
        widest: channels of its widest activation, for the upscaler's memory budget.
        backend_ranks: ``--backend auto`` preferences: ``{"backend[:precision]": rank}`` puts a
            backend at most at that rank for this network (e.g. ``{"openvino:f32": 15}``: ESPCN
            in f32 is faster on ONNX Runtime, ranked 20, than on OpenVINO).
        summary: one line for ``--help`` and ``vsr models``.
        weights_dir: folder of its shipped weights and their ``manifest.json`` (None: vsr's own).
    """

    name: str
    module: str
    scales: tuple[int, ...]
    forms: tuple[str, ...] = FORMS
    widest: int = 64
    backend_ranks: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    summary: str = ""
    weights_dir: str | None = None

    def __post_init__(self) -> None:
        if not self.scales or not all(isinstance(s, int) and s >= 2 for s in self.scales):
            raise ValueError(f"model {self.name}: scales must be integers >= 2, not {self.scales!r}")
        if "direct" not in self.forms or not set(self.forms) <= set(FORMS):
            raise ValueError(f"model {self.name}: forms must include direct and be among {FORMS}")


_BUILDERS: dict[str, Callable[[int], "nn.Module"]] = {}
_CARDS: dict[str, ModelCard] = {}  # declared architectures


def declare_model(name: str, module: str, **card) -> ModelCard:
    """Declare architecture ``name`` with its contract (the fields of :class:`ModelCard`) without
    importing it (nor PyTorch): ``module`` registers its builder with :func:`register_model`
    when :func:`build_model` first needs it. Duplicate names are an error."""
    if name in _CARDS:
        raise ValueError(f"model {name!r} is already declared")
    _CARDS[name] = ModelCard(name, module, **card)
    return _CARDS[name]


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
    """Names of all declared architectures, sorted."""
    return sorted(_CARDS)


def model_card(name: str) -> ModelCard:
    """The contract of architecture ``name``.

    Raises:
        ModelError: ``name`` is not a declared architecture.
    """
    check_architecture(name)
    return _CARDS[name]


def all_scales() -> tuple[int, ...]:
    """Every scale some declared architecture is built for, ascending (``--scale`` choices)."""
    return tuple(sorted({s for card in _CARDS.values() for s in card.scales}))


def check_architecture(name: str) -> None:
    """The one place an unknown model name is refused.

    Raises:
        ModelError: ``name`` is not a registered architecture.
    """
    if name not in _CARDS:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(list_architectures())}")


def build_model(name: str, scale: int) -> "nn.Module":
    """A freshly initialised (untrained) network.

    Args:
        name: a declared architecture (:func:`list_architectures`).
        scale: upscaling factor, one of its card's ``scales``.
    """
    card = model_card(name)
    if scale not in card.scales:
        raise ModelError(f"unsupported scale {scale} for {name}; choose one of: {', '.join(map(str, card.scales))}")
    if name not in _BUILDERS:
        import importlib

        importlib.import_module(card.module)  # registers the builder (and imports PyTorch)
    return _BUILDERS[name](scale)
