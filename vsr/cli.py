"""Command line: ``vsr COMMAND ...``. The only module that prints or sets up logging.

Each subcommand is a ``_cmd_NAME(args)`` function plus an ``_add_NAME(subparsers)``
that declares its arguments and sets ``func=_cmd_NAME``; ``_COMMANDS`` at the bottom
lists the ``_add_*`` functions in help order.
"""

from __future__ import annotations

import argparse
import logging
import sys

from vsr.errors import VsrError

__all__ = ["main"]

log = logging.getLogger("vsr")


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vsr", description="Video super-resolution with ESPCN/FSRCNN.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failure, 2 usage error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except VsrError as e:
        if args.verbose:
            log.exception("failed")
        print(f"vsr: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("vsr: interrupted", file=sys.stderr)
        return 130


# Subcommands in help order: each adds its parser and sets ``func``.
_COMMANDS: list = []


if __name__ == "__main__":
    sys.exit(main())
