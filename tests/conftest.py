"""Shared pytest fixtures.

Data: third-party images and clips live outside the repository in ``../shared/data``
(see ``shared/data/SOURCES.md``); tests that need them take the ``shared_data`` fixture
and are skipped where that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# --- data -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``REPO.parent / "shared/data"``: ``train/``, ``val/Set5``, ``val/Set14``, ``video/``."""
    path = REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path
