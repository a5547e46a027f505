"""``VSR_REQUIRE_CUDA=1`` turns a skipped GPU test into a failure (tools/gpu_check.sh sets it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

GPU_TEST = '''
import pytest

@pytest.mark.cuda
@pytest.mark.skipif(True, reason="needs a CUDA GPU")
def test_gpu():
    pass

def test_decides_itself():
    pytest.skip("this FFmpeg build has no h264_nvenc")
'''


def _run(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_gpu_case.py").write_text(GPU_TEST)
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "VSR_REQUIRE_CUDA"}
    if require is not None:
        env["VSR_REQUIRE_CUDA"] = require
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_gpu_skip_is_a_skip_by_default(tmp_path):
    proc = _run(tmp_path, None)
    assert proc.returncode == 0, proc.stdout
    assert "2 skipped" in proc.stdout


def test_gpu_skip_fails_when_cuda_is_required(tmp_path):
    proc = _run(tmp_path, "1")
    assert proc.returncode == 1, proc.stdout
    assert "VSR_REQUIRE_CUDA=1 but this GPU test would skip: " in proc.stdout
    assert "1 skipped" in proc.stdout  # a skip the test decides itself stays a skip
