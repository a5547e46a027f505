"""Argument types and help shared by the subcommands."""

from __future__ import annotations

import argparse

__all__ = ["parse_size", "positive_int", "backend_help"]


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


def segment_count(text: str) -> int | str:
    """``--segments``: a positive number or ``auto``."""
    from vsr.errors import UsageError
    from vsr.segments.plan import parse_count

    try:
        return parse_count(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).partition(": ")[2]) from None


def backend_help() -> str:
    from vsr.backends import backend_names

    return f"{', '.join(backend_names())} (default auto: the best this machine runs; see 'vsr info')"


# Subcommands in help order: each adds its parser and sets ``func``.
