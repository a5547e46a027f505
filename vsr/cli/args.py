"""Argument types, ranges and help shared by the subcommands, and the parser that reports a bad
argument in one line."""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

__all__ = ["Parser", "parse_size", "positive_int", "int_range", "number_range", "check_crf", "pix_fmt",
           "check_encoder", "backend_name", "device_name", "backend_help", "model_help", "scale_choices", "device_help",
           "add_backend_options", "backend_option_values"]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line plus a hint, not the whole usage (exit 2):
    ``vsr upscale: error: --scale: 5 is not one of 2, 3, 4 (see vsr upscale --help)``.

    Subcommand parsers made by ``add_subparsers`` are of the same class.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_plain(message)} (see {self.prog} --help)\n")


def _plain(message: str) -> str:
    """argparse's wording made shorter: ``argument --scale: invalid choice: 5 (choose from 2, 3, 4)``
    -> ``--scale: 5 is not one of 2, 3, 4``."""
    message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
    m = re.search(r"invalid choice: (.+?) \(choose from (.+)\)$", message)
    if m:
        choices = m.group(2).replace("'", "")
        message = message[:m.start()] + f"{m.group(1)} is not one of {choices}"
    m = re.search(r"invalid (int|float) value: (.+)$", message)
    if m:
        message = message[:m.start()] + f"{m.group(2)} is not {'a whole number' if m.group(1) == 'int' else 'a number'}"
    return message


def parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> ``(1920, 1080)``: (width, height), for argparse ``type=``."""
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}")
    return int(w), int(h)


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def segment_count(text: str) -> int | str:
    """``--segments``: a positive number or ``auto``."""
    from vsr.errors import UsageError
    from vsr.segments.plan import parse_count

    try:
        return parse_count(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).partition(": ")[2]) from None


def int_range(low: int, high: int | None = None, what: str = ""):
    """An argparse ``type=`` accepting whole numbers from ``low`` to ``high`` (None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"of {low} or more"
            raise argparse.ArgumentTypeError(f"expected a whole number {span}{what}, got {text!r}")
        return value

    return parse


def number_range(low: float, what: str = "", positive: bool = False):
    """An argparse ``type=`` accepting finite numbers (decimals allowed) of ``low`` or more (above
    ``low`` when ``positive``); ``what`` ends the message, e.g. ``" of seconds"``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (value > low if positive else value >= low) or value == float("inf"):
            span = "a positive number" if positive and low == 0 else f"a number of {low:g} or more"
            raise argparse.ArgumentTypeError(f"expected {span}{what}, got {text!r}")
        return value

    return parse


def pix_fmt(text: str) -> str:
    """An argparse ``type=`` for ``--pix-fmt``: a pixel format name FFmpeg knows."""
    from vsr.media.encode import known_pix_fmt

    if not known_pix_fmt(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a pixel format FFmpeg knows; common ones: yuv420p, yuv420p10le, yuv422p10le, "
            "yuv444p")
    return text


def check_crf(crf: int | None, codec: str | None) -> str | None:
    """Why ``--crf`` is out of range for ``codec``, or None. Without ``--codec`` the encoder is
    picked per source (libx264, libx265 0-51; libsvtav1 for WebM 0-63): up to 63 passes here and
    the encoder's own range is checked when it opens."""
    if crf is None:
        return None
    from vsr.media.encode import crf_problem

    if codec is not None:
        return crf_problem(crf, codec)
    if crf > 63:
        return (f"--crf {crf}: out of range; the default encoders take 0 to 51 (libx264, libx265) or 0 to 63 "
                "(libsvtav1 for WebM); lower is better quality")
    return None


def check_encoder(codec: str | None, pix_fmt: str | None, preset: str | None) -> None:
    """Refuse, before any file is read, a ``--codec`` this FFmpeg lacks and a ``--pix-fmt`` or
    ``--preset`` it does not take. Without ``--codec`` the encoder is picked per source and
    output, and checks them when it opens.

    Raises:
        UsageError: one line naming the choices.
    """
    if codec is None:
        return
    from vsr.media.encode import check_settings, find_encoder

    check_settings(find_encoder(codec), pix_fmt, preset)


def backend_name(text: str) -> str:
    """An argparse ``type=`` for ``--backend``: ``auto`` or a registered backend's name."""
    from vsr.backends import backend_names

    if text not in backend_names():
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(backend_names())}")
    return text


def device_name(text: str) -> str:
    """An argparse ``type=`` for ``--device``: ``auto``, ``cpu``, or a device kind a registered
    backend runs on with an optional index (``cuda``, ``cuda:N``)."""
    import vsr.backends  # noqa: F401  (registers the backends, and with them their device kinds)
    from vsr.devices import device_kinds

    kind, sep, idx = text.partition(":")
    if text != "auto" and not (kind in device_kinds() and (not sep or (idx.isdigit() and kind != "cpu"))):
        kinds = ", ".join(k if k == "cpu" else f"{k} or {k}:N" for k in device_kinds())
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use auto, {kinds}")
    return text


def model_help(what: str = "network") -> str:
    """``--model`` help: the declared architectures, the default first."""
    from vsr.models import DEFAULT_MODEL, list_architectures

    return f"{what}: {', '.join(list_architectures())} (default {DEFAULT_MODEL}; see 'vsr models')"


def scale_choices() -> tuple[int, ...]:
    """``--scale`` choices: every scale a declared architecture is built for."""
    from vsr.models import all_scales

    return all_scales()


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

