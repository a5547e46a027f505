"""Every Python file of the project compiles without a warning: an invalid escape sequence in a
docstring (a DeprecationWarning, a SyntaxWarning from Python 3.12) would print on a user's first
import and become an error in a later Python."""

from __future__ import annotations

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
