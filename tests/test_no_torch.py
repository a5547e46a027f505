"""vsr without PyTorch (``pip install vsr-luma`` without the ``torch`` extra): the CPU commands work,
and what needs PyTorch says in one line how to get it.

Each command runs in a fresh interpreter where ``import torch`` fails, as on a machine where it
is not installed (``sys.modules['torch'] = None`` makes every import of it raise ImportError).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media import frame_count, write_clip
from vsr.media.probe import probe

NO_TORCH = ("import sys; sys.modules['torch'] = None; from vsr.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules or sys.modules['torch'] is None; sys.exit(rc)")


def vsr_without_torch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("no_torch") / "in.mp4", 64, 48, frames=5)


def test_upscale_without_torch(clip, tmp_path):
    out = tmp_path / "out.mp4"
    proc = vsr_without_torch("upscale", str(clip), "-o", str(out), "--progress", "none", "--preset", "ultrafast")
    assert proc.returncode == 0, proc.stderr
    info = probe(out)
    assert (info.width, info.height) == (128, 96) and frame_count(out) == 5


def test_upscale_to_a_target_without_torch(clip, tmp_path):
    out = tmp_path / "out.mkv"
    proc = vsr_without_torch("upscale", str(clip), "-o", str(out), "--target", "96x72", "--codec", "ffv1",
                             "--progress", "none")
    assert proc.returncode == 0, proc.stderr
    info = probe(out)
    assert (info.width, info.height) == (96, 72) and frame_count(out) == 5


def test_batch_without_torch(clip, tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    write_clip(src / "a.mp4", 48, 32, frames=3)
    write_clip(src / "b.mp4", 32, 32, frames=2)
    proc = vsr_without_torch("batch", str(src), "-d", str(dst), "--codec", "ffv1", "--container", "mkv",
                             "--progress", "none", "--model", "fsrcnn", "--scale", "3")
    assert proc.returncode == 0, proc.stderr
    assert (probe(dst / "a.mkv").width, probe(dst / "b.mkv").height) == (144, 96)
    assert (frame_count(dst / "a.mkv"), frame_count(dst / "b.mkv")) == (3, 2)


def test_image_without_torch_matches_the_torch_path(tmp_path, rng):
    """The NumPy image path gives the same picture as the PyTorch one (within one code value)."""
    from vsr.image import upscale_image

    rgb = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(rgb).save(src)
    proc = vsr_without_torch("image", str(src), "-o", str(out), "--backend", "onnxruntime")
    assert proc.returncode == 0, proc.stderr
    got = np.asarray(Image.open(out))
    assert got.shape == (40, 56, 3)
    ref = upscale_image(rgb, backend="torch", device="cpu")
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1


def test_models_and_info_without_torch():
    proc = vsr_without_torch("models")
    assert proc.returncode == 0, proc.stderr
    rows = {tuple(line.split()[:3]): line.split() for line in proc.stdout.splitlines()[1:]}
    assert ("espcn", "x2", "clean") in rows and ("fsrcnn", "x4", "clean") in rows
    assert ("espcn", "x2", "compressed") in rows
    # FLOPs per input pixel, counted on the shipped graph (the same network in either weight set)
    assert rows[("espcn", "x2", "clean")][4] == rows[("espcn", "x2", "compressed")][4] == "42.4k"
    proc = vsr_without_torch("info", "--json")
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    backends = {b["name"]: b for b in facts["backends"]}
    assert backends["onnxruntime"]["devices"]["cpu"] == "available"
    assert "vsr-luma[torch]" in backends["torch"]["devices"]["cpu"]


@pytest.mark.parametrize("args", [
    ["--backend", "torch"],
    ["--device", "cuda"],
])
def test_what_needs_torch_says_how_to_get_it(clip, tmp_path, args):
    out = tmp_path / "out.mp4"
    proc = vsr_without_torch("upscale", str(clip), "-o", str(out), "--progress", "none", *args)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(err) == 1 and "pip install 'vsr-luma[torch]'" in err[0], proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_export_without_torch_says_how_to_get_it(tmp_path):
    proc = vsr_without_torch("export", "-o", str(tmp_path / "m.onnx"))
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(err) == 1 and "pip install 'vsr-luma[torch]'" in err[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_training_without_torch_says_how_to_get_it():
    tool = Path(__file__).resolve().parent.parent / "tools" / "train.py"
    proc = subprocess.run([sys.executable, "-c", "import sys, runpy; sys.modules['torch'] = None; "
                           f"sys.argv = [{str(tool)!r}, '--help']; runpy.run_path({str(tool)!r}, run_name='__main__')"],
                          capture_output=True, text=True, timeout=120)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(err) == 1 and "pip install 'vsr-luma[torch]'" in err[0], proc.stderr


def test_flops_counted_on_the_shipped_graphs_equal_pytorchs_count():
    """``vsr models`` counts FLOPs on the shipped ONNX graphs without PyTorch: the same figures
    as the forward-hook count on the networks (trained form: ``direct``; inference: ``residual``)."""
    from vsr.models.flops import flops_per_pixel
    from vsr.models.graph_cost import graph_flops_per_pixel
    from vsr.models.weights import create_model, list_models

    for spec in list_models():
        net = create_model(spec.name, spec.scale)
        assert graph_flops_per_pixel(spec.graph("direct")) == flops_per_pixel(net, form="trained"), spec.key
        assert graph_flops_per_pixel(spec.graph("residual")) == flops_per_pixel(net), spec.key

