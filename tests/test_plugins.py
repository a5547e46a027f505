"""Plug-ins: a backend for a new device kind and a third architecture, each in its own file
(tests/plugins/) plus one registration line, run through ``vsr upscale`` on a generated clip.

The registrations happen in a child process, as a program embedding vsr would make them, so
the registries of this test process stay as shipped."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from media import read_video, write_clip

TESTS = Path(__file__).resolve().parent

PROGRAM = """
import sys
from vsr.backends import register_backend
from vsr.models import declare_model

declare_model("toy", "plugins.toy_model", scales=(2,), widest=4, weights_dir=sys.argv[1])
register_backend("toy", "plugins.toy_backend", rank={"toy": 10}, summary="a toy accelerator")

from vsr.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _toy_weights(folder: Path, bias_codes: int) -> None:
    """ToyNet x2 weights that add ``bias_codes`` 8-bit codes to nearest-neighbour upsampling,
    with the manifest entry a weights folder holds."""
    folder.mkdir()
    state = {"conv.weight": torch.zeros(4, 1, 3, 3), "conv.bias": torch.full((4,), bias_codes / 255)}
    torch.save(state, folder / "toy_x2.pt")
    entry = {"name": "toy", "scale": 2, "file": "toy_x2.pt", "params": 40,
             "sha256": hashlib.sha256((folder / "toy_x2.pt").read_bytes()).hexdigest(),
             "provenance": {"trained": "no: fixed weights for a test"}}
    (folder / "manifest.json").write_text(json.dumps({"toy_x2": entry}))


def test_vsr_upscale_through_a_plugin_backend_on_a_new_device_kind_and_a_plugin_model(tmp_path: Path) -> None:
    _toy_weights(tmp_path / "weights", bias_codes=10)
    src = write_clip(tmp_path / "in.mp4", 64, 48, frames=4)
    dst = tmp_path / "out.mkv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path / "weights"), "upscale", str(src), "-o", str(dst),
                        "--model", "toy", "--scale", "2", "--device", "toy", "--codec", "ffv1", "--progress", "none"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got, want = read_video(dst), read_video(src)
    assert (got.width, got.height) == (128, 96) and len(got.planes) == len(want.planes) == 4
    for out, inp in zip(got.planes, want.planes):
        nearest = np.repeat(np.repeat(inp[0].astype(int), 2, 0), 2, 1)
        assert np.array_equal(out[0].astype(int), np.minimum(nearest + 10, 255))  # the toy network, exactly
        assert out[1].shape == out[2].shape == (48, 64)  # chroma resampled by vsr
