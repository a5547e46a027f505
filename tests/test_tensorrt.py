"""The TensorRT backend: clear errors everywhere; engines, numerics and caching on a GPU.

The tests marked ``tensorrt`` need TensorRT and a CUDA GPU and are skipped cleanly
without them; the others run on any machine.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from vsr.backends import create_backend, resolve_name
from vsr.devices import nvidia_driver_present
from vsr.backends import tensorrt as trt_backend
from vsr.backends.engine_cache import EngineCache, ShapeProfile
from vsr.config import BackendConfig
from vsr.errors import BackendError
from vsr.models import build_model
from vsr.models.weights import get_spec, list_models, create_model

REPO = Path(__file__).resolve().parent.parent

_WHY_NOT = trt_backend.unavailable("cuda")


def needs_tensorrt(test):
    """Mark ``tensorrt`` and skip cleanly where TensorRT or a CUDA GPU is missing."""
    skip = pytest.mark.skipif(_WHY_NOT is not None, reason=f"TensorRT backend unavailable: {_WHY_NOT}")
    return pytest.mark.tensorrt(skip(test))


def _one_line(text: str) -> str:
    text = text.strip()
    assert text and "\n" not in text, f"expected one line, got {text!r}"
    return text


# --- without TensorRT or without a GPU (any machine) ------------------------------------


def test_cpu_device_is_refused_in_one_line():
    with pytest.raises(BackendError) as e:
        resolve_name("tensorrt", "cpu")
    msg = _one_line(str(e.value))
    assert "CUDA" in msg or "NVIDIA GPU" in msg


def test_missing_tensorrt_is_refused_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    with pytest.raises(BackendError) as e:
        resolve_name("tensorrt", "cuda")
    msg = _one_line(str(e.value))
    if not nvidia_driver_present():  # the GPU is named first: TensorRT alone would not help
        assert "needs an NVIDIA GPU" in msg
    else:
        assert "TensorRT is not installed" in msg and "pip install vsr-luma[tensorrt]" in msg


def test_missing_gpu_is_refused_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendError) as e:
        resolve_name("tensorrt", "cuda:0")
    msg = _one_line(str(e.value))
    assert "no CUDA GPU" in msg or "needs an NVIDIA GPU" in msg


def test_auto_never_picks_tensorrt_on_cpu():
    assert resolve_name("auto", "cpu") != "tensorrt"


def test_constructor_refuses_like_resolve(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendError, match="pip install vsr-luma"):
        trt_backend.TensorRTBackend(build_model("espcn", 2).eval(), "cuda")


def test_engine_build_cli_fails_in_one_line(monkeypatch, capsys):
    from vsr.cli import main

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    rc = main(["engine", "build", "--model", "espcn", "--scale", "2", "--max-size", "64x48"])
    assert rc != 0
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("vsr: error:") and "tensorrt" in err.lower()


@pytest.mark.skipif(_WHY_NOT is None, reason="TensorRT works here")
def test_engine_build_command_here_fails_in_one_line():
    """The real command, as a user runs it on a machine without TensorRT or a GPU."""
    run = subprocess.run(
        [sys.executable, "-m", "vsr", "engine", "build", "--model", "espcn", "--scale", "2", "--max-size", "64x48"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert run.returncode != 0 and run.stdout == ""
    assert _one_line(run.stderr).startswith("vsr: error: backend tensorrt cannot run on cuda")


def test_weights_hash_tracks_the_weights():
    a, b = build_model("espcn", 2), build_model("espcn", 2)
    with torch.no_grad():
        b.load_state_dict(a.state_dict())
        assert trt_backend.hash_weights(a) == trt_backend.hash_weights(b)
        b.conv1.bias[0] += 1e-3
    assert trt_backend.hash_weights(a) != trt_backend.hash_weights(b)


# --- with TensorRT and a GPU ------------------------------------------------------------


def _model_and_sha():
    """Shipped espcn x2 when present (with its manifest checksum), else a random one."""
    if any(s.name == "espcn" and s.scale == 2 for s in list_models()):
        return create_model("espcn", 2), get_spec("espcn", 2).sha256
    torch.manual_seed(0)
    model = build_model("espcn", 2).eval()
    with torch.no_grad():
        model.conv3.weight.normal_(0.0, 0.05)
    return model, None


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.float().clamp(0, 1) - b.float().clamp(0, 1)).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """One small engine for the module: up to 2 frames of 96x64."""
    model, sha = _model_and_sha()
    cache = EngineCache(tmp_path_factory.mktemp("engines"))
    backend = trt_backend.TensorRTBackend(model, "cuda", ShapeProfile.for_frames((96, 64), batch=2),
                                          weights_sha256=sha, name="espcn", cache=cache)
    yield model, backend, cache
    backend.close()


@needs_tensorrt
def test_engine_matches_torch_fp16(engine):
    from vsr.backends.torch import TorchBackend

    model, backend, _ = engine
    assert backend.built and backend.engine_path.name.startswith("espcn_x2-")
    assert backend.max_size == (96, 64) and backend.max_batch == 2 and backend.dtype == torch.float16
    reference = TorchBackend(model, "cuda")
    torch.manual_seed(0)
    for shape in [(2, 1, 64, 96), (1, 1, 17, 33), (3, 1, 40, 40)]:  # full, odd, more than max batch
        y = torch.rand(shape, device="cuda", dtype=torch.float16)
        out = backend.run(y)
        ref = reference.run(y)
        torch.cuda.synchronize()
        assert out.shape == (shape[0], 1, 2 * shape[2], 2 * shape[3]) and out.dtype == torch.float16
        assert _psnr(out, ref) > 45, f"TensorRT vs PyTorch FP16 at {shape}: {_psnr(out, ref):.1f} dB"


@needs_tensorrt
def test_runs_on_the_callers_stream(engine):
    _, backend, _ = engine
    y = torch.rand(1, 1, 32, 48, device="cuda", dtype=torch.float16)
    expected = backend.run(y)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        out = backend.run(y)
    side.synchronize()
    torch.cuda.synchronize()
    assert torch.equal(out, expected)


@needs_tensorrt
def test_views_at_unaligned_addresses_give_the_same_output(engine):
    """A full-width tile of one frame is a contiguous view 192 bytes into its frame:
    TensorRT needs 256-byte aligned pointers, so the backend copies it first."""
    _, backend, _ = engine
    frame = torch.rand(1, 1, 64, 96, device="cuda", dtype=torch.float16)
    view = frame[:, :, 1:33]
    assert view.is_contiguous() and view.data_ptr() % 256
    assert torch.equal(backend.run(view), backend.run(view.clone()))


@needs_tensorrt
def test_second_creation_loads_from_cache(engine):
    model, first, cache = engine
    again = trt_backend.TensorRTBackend(model, "cuda", first.profile, weights_sha256=first.key.weights_sha256,
                                        name="espcn", cache=cache)
    try:
        assert not again.built and again.engine_path == first.engine_path and again.key == first.key
        assert cache.timing_cache_path(first.key).is_file()
        y = torch.rand(1, 1, 64, 96, device="cuda", dtype=torch.float16)
        assert torch.equal(again.run(y), first.run(y))
    finally:
        again.close()


@needs_tensorrt
def test_frame_larger_than_engine_is_a_clear_error(engine):
    _, backend, _ = engine
    for h, w in [(65, 96), (64, 97)]:
        with pytest.raises(BackendError) as e:
            backend.run(torch.rand(1, 1, h, w, device="cuda", dtype=torch.float16))
        msg = _one_line(str(e.value))
        assert "--tile" in msg and "--max-size" in msg and f"{w}x{h}" in msg


@needs_tensorrt
def test_registry_factory_uses_config_max_size(tmp_path, monkeypatch):
    monkeypatch.setenv("VSR_ENGINE_DIR", str(tmp_path))
    model, sha = _model_and_sha()
    spec = get_spec("espcn", 2) if sha else None
    backend = create_backend(model, spec, BackendConfig(name="tensorrt", device="cuda", batch=1,
                                                       options={"max_size": (48, 32)}))
    try:
        assert backend.name == "tensorrt" and backend.max_size == (48, 32) and backend.max_batch == 1
        assert backend.engine_path.parent == tmp_path and backend.engine_path.is_file()
        out = backend.run(torch.rand(1, 1, 32, 48, device="cuda", dtype=torch.float16))
        assert out.shape == (1, 1, 64, 96)
    finally:
        backend.close()
