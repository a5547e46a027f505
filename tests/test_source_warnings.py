"""Every Python file of the project compiles without a warning: an invalid escape sequence in a
docstring (a DeprecationWarning, a SyntaxWarning from Python 3.12) would print on a user's first
import and become an error in a later Python."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_file_compiles_without_warnings() -> None:
    failures = []
    for path in sorted(p for top in ("vsr", "tools", "tests") for p in (ROOT / top).rglob("*.py")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
            except (SyntaxError, Warning) as exc:
                failures.append(f"{path.relative_to(ROOT)}: {exc}")
    assert not failures, "\n".join(failures)


def test_importing_the_cli_path_warns_nothing() -> None:
    """What ``vsr`` imports to run, imported with every warning an error (a deprecated call at
    import time, in our code or in how we call a library; compile-time warnings are the test
    above's, since a cached .pyc hides them here)."""
    modules = "vsr, vsr.cli, vsr.batch, vsr.segments, vsr.pipeline, vsr.media.decode, vsr.media.encode"
    r = subprocess.run([sys.executable, "-W", "error", "-c", f"import {modules}"], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
