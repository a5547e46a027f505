"""Where the tools (and the tests) find data and keep training checkpoints.

* Data root: third-party images and clips (``train/``, ``val/Set5``, ``val/Set14``,
  ``video/``; see ``shared/data/SOURCES.md``). ``--data-root DIR``, else ``$VSR_DATA_ROOT``,
  else ``../shared/data`` beside the repository.
* Checkpoints: training runs, with their optimizer state, outside the repository:
  ``$VSR_CHECKPOINTS``, else ``~/.cache/vsr/checkpoints``; one folder per run.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_ENV = "VSR_DATA_ROOT"
CHECKPOINTS_ENV = "VSR_CHECKPOINTS"


def data_root(given: Path | str | None = None) -> Path:
    """The data root: ``given`` (a ``--data-root`` value), else ``$VSR_DATA_ROOT``, else
    ``../shared/data`` beside the repository. The folder need not exist."""
    if given:
        return Path(given).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else REPO.parent / "shared" / "data"


def add_data_root(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-root DIR`` to a tool's parser; read it back with :func:`data_root`."""
    parser.add_argument("--data-root", type=Path,
                        help=f"folder holding train/, val/ and video/ (default: ${DATA_ENV}, else "
                             "../shared/data beside the repository)")


def checkpoint_root() -> Path:
    """Where training runs keep their checkpoints: ``$VSR_CHECKPOINTS``, else ``~/.cache/vsr/checkpoints``."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or "~/.cache/vsr/checkpoints").expanduser()


def home_relative(path: Path | str) -> str:
    """``path`` with the home folder written as ``~`` (provenance readable on any machine)."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text
