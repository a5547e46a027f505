"""Argument types and help shared by the subcommands."""

from __future__ import annotations

import argparse

__all__ = ["parse_size", "positive_int", "backend_help", "device_help", "add_backend_options", "backend_option_values"]


def parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> ``(1920, 1080)``: (width, height), for argparse ``type=``."""
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}")
    return int(w), int(h)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def backend_help() -> str:
    from vsr.backends import backend_names

    return f"{', '.join(backend_names())} (default auto: the best this machine runs; see 'vsr info')"


def device_help() -> str:
    """``--device`` help: the device kinds the registered backends run on."""
    import vsr.backends  # noqa: F401  (registers the backends, and with them their device kinds)
    from vsr.devices import device_help as kinds_help

    return kinds_help()


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """A flag per option the registered backends declare (``--precision``, ``--max-size``, ...)."""
    from vsr.backends import backend_options

    for o in backend_options().values():
        if o.kind == "flag":
            p.add_argument(o.flag, action="store_true", default=None, help=o.help)
        elif o.kind == "size":
            p.add_argument(o.flag, type=parse_size, default=None, metavar="WxH", help=o.help)
        else:
            p.add_argument(o.flag, choices=o.choices, default=None, help=o.help)


def backend_option_values(args: argparse.Namespace) -> dict:
    """The backend options given on the command line (those left out take each backend's default)."""
    from vsr.backends import backend_options

    return {name: v for name in backend_options() if (v := getattr(args, name, None)) is not None}


# Subcommands in help order: each adds its parser and sets ``func``.
