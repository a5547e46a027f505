"""Command line: ``vsr COMMAND ...``. The only package that prints or sets up logging.

Each subcommand is a ``_cmd_NAME(args)`` function plus an ``add_NAME(subparsers)`` that
declares its arguments and sets ``func=_cmd_NAME``: the video commands in
:mod:`vsr.cli.video`, the others in :mod:`vsr.cli.tools`; :func:`build_parser` lists them in
help order.
"""

from __future__ import annotations

import argparse
import logging
import sys

from vsr.errors import OS_ERRORS, VsrError, cause, missing_torch, os_error_message

__all__ = ["main", "build_parser"]

log = logging.getLogger("vsr")


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose:  # FFmpeg's own log lines only on request
        from vsr.media.containers import set_ffmpeg_log_level

        set_ffmpeg_log_level(verbose)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vsr-luma")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from vsr.cli.args import Parser

    parser = Parser(prog="vsr", description="Video super-resolution with ESPCN/FSRCNN.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"vsr {_version()}")
    from vsr.cli import demo, segments, tools, video

    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (demo.add_demo, video.add_upscale, video.add_batch, segments.add_segments, tools.add_export,
                tools.add_engine, tools.add_image, tools.add_models, tools.add_info):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failure, 2 usage error, 130 interrupted,
    143 terminated)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the subcommand they were given to, not by the top-level parser
        _innermost(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(args.verbose)
    previous = _terminate_as_interrupt()
    try:
        return int(args.func(args) or 0)
    except VsrError as e:
        if args.verbose:
            log.exception("failed")
        print(f"vsr: error: {_public(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        print("vsr: terminated" if isinstance(e, Terminated) else "vsr: interrupted", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except Exception as e:  # a bug or an unexpected library error: still one line unless -v
        if args.verbose:
            raise
        print(f"vsr: error: {_public(_unexpected(e, args.command))}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


def _innermost(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the deepest subcommand ``args`` names (``vsr engine list``'s)."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, sub.dest, None) if sub is not None else None
        if name not in getattr(sub, "choices", {}):
            return parser
        parser = sub.choices[name]


def _public(message: str) -> str:
    """The message on one line, a hidden partial file's name replaced by its destination's."""
    from vsr.output import public_text

    return public_text("; ".join(line.strip() for line in message.splitlines() if line.strip()))


def _unexpected(e: Exception, command: str) -> str:
    """One line for an error vsr did not raise on purpose: what happened and what to do, without
    the exception's class name, errno, return code or a temporary file's name."""
    if missing_torch(e):  # an extra
        return f"{command} needs PyTorch, which is not installed: pip install 'vsr-luma[torch]'"
    if isinstance(e, BrokenPipeError) and e.filename is None:  # print() to a pipe closed early (| head)
        return os_error_message(e, "standard output")
    if isinstance(e, OSError) and e.errno in OS_ERRORS:  # the disk, permissions: PyAV's errors included
        return os_error_message(e)
    if type(e).__module__.startswith("av."):  # an FFmpeg failure vsr did not foresee
        what = os_error_message(e) if getattr(e, "strerror", None) else cause(e)  # type: ignore[arg-type]
        return f"{what} (from FFmpeg); run with -v to see FFmpeg's own messages, and please report it if other " \
               "players read this input"
    if isinstance(e, OSError):
        return os_error_message(e)
    return (f"unexpected failure ({cause(e)}); this is a bug in vsr or a library: run with -v for details and "
            "please report it")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so the same clean-up runs (exit 143)."""


def _terminate_as_interrupt():
    """Install the SIGTERM handler; returns the previous one (None off the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, on_term)
