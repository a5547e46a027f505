"""Command line: ``vsr COMMAND ...``. The only module that prints or sets up logging.

Each subcommand is a ``_cmd_NAME(args)`` function plus an ``_add_NAME(subparsers)``
that declares its arguments; :data:`_COMMANDS` lists them in help order.
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


_COMMANDS: list = []  # (add_parser_fn) in help order; each sets func=...


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


if __name__ == "__main__":
    sys.exit(main())
