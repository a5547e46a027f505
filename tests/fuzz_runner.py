"""Runs ``vsr upscale`` on many inputs in ONE process, for tests/test_fuzz.py: the CLI's own
``main`` per file, its stderr captured per file, one JSON line per file to stdout as each ends.

A process per file would spend most of the fuzz test's time importing PyAV and the backends;
one process for all of a container's mutants keeps the test short and still isolates pytest
from a crash or hang in FFmpeg (the test runs this with a timeout, and the last line written
names the file that was running).

Usage: ``python tests/fuzz_runner.py OUT_DIR INPUT...`` (extra vsr arguments after ``--``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from pathlib import Path


def run_one(src: Path, dst: Path, extra: list[str]) -> tuple[int, str]:
    """``vsr upscale SRC -o DST EXTRA...`` in this process: (exit code, stderr)."""
    from vsr.cli import main

    root = logging.getLogger()
    for h in root.handlers[:]:  # the CLI sets logging up again, onto this file's stderr
        root.removeHandler(h)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["upscale", "--progress", "none", str(src), "-o", str(dst), *extra])
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 1
    return code, err.getvalue()


def main(argv: list[str]) -> None:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = argv[: argv.index("--")] if "--" in argv else argv
    out_dir, inputs = Path(args[0]), [Path(a) for a in args[1:]]
    for src in inputs:
        print(json.dumps({"start": src.name}), flush=True)
        dst = out_dir / src.stem / "o.mkv"
        dst.parent.mkdir(parents=True, exist_ok=True)
        code, err = run_one(src, dst, extra)
        print(json.dumps({"name": src.name, "code": code, "stderr": err}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
