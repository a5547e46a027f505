"""Backends' own options, declared with their registration: ``--precision`` for OpenVINO,
``--max-size`` for TensorRT, ``--cuda-graphs`` for PyTorch.

An option is registered once by each backend that has it (:func:`vsr.backends.register_backend`);
the CLI adds one flag per option name, ``upscale_video``/``upscale_batch`` take it as a keyword,
and :class:`vsr.config.BackendConfig` carries it in ``options``. :func:`check_options` fills a
backend's defaults and refuses values it does not take, so config, CLI and pipeline stay the
same when a backend gains an option.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from vsr.errors import UsageError

__all__ = ["BackendOption", "check_options", "merged_options"]

log = logging.getLogger(__name__)

KINDS = ("choice", "flag", "size")


@dataclass(frozen=True)
class BackendOption:
    """One option of a backend.

    Attributes:
        name: keyword and ``BackendConfig.options`` key (``max_size``); the CLI flag is
            ``--`` plus the name with dashes (``--max-size``).
        help: one line for ``--help``, naming the backend.
        kind: ``choice`` (one of ``choices``), ``flag`` (on/off) or ``size`` (``(width, height)``,
            ``WxH`` on the command line).
        choices: the values a ``choice`` takes.
        default: the value when not given.
    """

    name: str
    help: str
    kind: str = "choice"
    choices: tuple[str, ...] = ()
    default: Any = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, backend: str) -> Any:
        """``value`` if this option takes it, else UsageError in one line."""
        if self.kind == "choice" and value not in self.choices:
            raise UsageError(f"{self.flag} {value}: {backend} takes {', '.join(self.choices)}")
        if self.kind == "flag" and not isinstance(value, bool):
            raise UsageError(f"{self.flag} is on or off (True or False), not {value!r}")
        if self.kind == "size" and value is not None and not (
                len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
            raise UsageError(f"{self.flag} {value!r}: expected (width, height) in pixels")
        return value


def merged_options(per_backend: dict[str, tuple[BackendOption, ...]]) -> dict[str, BackendOption]:
    """One option per name over every backend (the CLI's flags): choices united in order,
    help lines joined; ``default`` None where the backends' defaults differ."""
    out: dict[str, BackendOption] = {}
    for options in per_backend.values():
        for o in options:
            seen = out.get(o.name)
            if seen is None:
                out[o.name] = o
                continue
            if seen.kind != o.kind:
                raise ValueError(f"option {o.name} is a {seen.kind} for one backend and a {o.kind} for another")
            out[o.name] = BackendOption(
                o.name, seen.help if o.help == seen.help else f"{seen.help}; {o.help}", o.kind,
                tuple(dict.fromkeys(seen.choices + o.choices)), seen.default if seen.default == o.default else None)
    return out


def check_options(backend: str, device: str, declared: tuple[BackendOption, ...], given: dict[str, Any],
                  owners: dict[str, list[str]]) -> dict[str, Any]:
    """The options ``backend`` runs with on ``device``: its defaults, overridden by ``given``
    where it has the option.

    A given option that ``backend`` does not have is dropped with a warning naming the backends
    it belongs to (``owners``: option -> backend names), unless it is at a default (off, auto).

    Raises:
        UsageError: a value the backend does not take.
    """
    own = {o.name: o for o in declared}
    out = {o.name: o.default for o in declared}
    for name, value in given.items():
        if name in own:
            out[name] = own[name].check(value, backend)
        elif value not in (None, False, "auto"):
            log.warning("--%s applies to %s; ignored with %s on %s", name.replace("_", "-"),
                        " and ".join(owners.get(name, ["no backend"])), backend, device)
    return out
