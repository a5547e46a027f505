"""Upscaler: tiling equals whole frames, batching equals single frames, planes and depths kept."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from vsr.backends.onnxruntime import OnnxRuntimeBackend
from vsr.backends.torch import TorchBackend
from vsr.frames import ColorTags, YuvFrame
from vsr.models import build_model
from vsr.models.export import inference_form
from vsr.models.receptive import receptive_radius
from vsr.upscale.device import DeviceUpscaler as Upscaler
from vsr.upscale.plan import run_tiled
from vsr.upscale.resample import chroma_offset, resize


def _random_model(name: str, scale: int) -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_model(name, scale)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.15)
    return m.eval()


def _frame(h: int, w: int, depth: int = 8, log2=(1, 1), gray: bool = False, seed: int = 0) -> YuvFrame:
    rng = np.random.default_rng(seed)
    maxv = (1 << depth) - 1
    dtype = np.uint8 if depth == 8 else np.uint16
    yy, xx = np.mgrid[0:h, 0:w]
    y = (maxv * (0.5 + 0.4 * np.sin(xx / 3.0) * np.cos(yy / 5.0)) + rng.normal(0, maxv * 0.02, (h, w)))
    planes = [np.clip(y, 0, maxv).astype(dtype)]
    if not gray:
        ch, cw = -(-h >> log2[1]), -(-w >> log2[0])
        planes += [rng.integers(0, maxv + 1, (ch, cw)).astype(dtype) for _ in range(2)]
    return YuvFrame(tuple(planes), depth, (0, 0) if gray else log2, 0, Fraction(1, 25), ColorTags(1, 1, 1, 1))


@pytest.mark.parametrize("name", ["espcn", "fsrcnn"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_equals_untiled(name, scale):
    model = _random_model(name, scale)
    backend = TorchBackend(model)
    radius = receptive_radius(inference_form(build_model(name, scale)))
    y = torch.rand(2, 1, 37, 45)
    whole = backend.run(y)
    tiled = run_tiled(backend, y, 2 * radius + 13, radius)  # 3 x 3 tiles of unequal sizes
    assert tiled.shape == whole.shape == (2, 1, 37 * scale, 45 * scale)
    assert torch.allclose(tiled, whole, atol=1e-5), (tiled - whole).abs().max()
    # too little overlap is visibly different: the overlap really is what makes tiles exact
    assert not torch.allclose(run_tiled(backend, y, 2 * radius + 13, radius - 2), whole, atol=1e-4)


def test_receptive_radius():
    assert receptive_radius(build_model("espcn", 2)) == 4  # 5x5, 3x3, 3x3
    assert receptive_radius(inference_form(build_model("fsrcnn", 2))) == 2 + 4 + 2  # 5x5, 4 x 3x3, 5x5 sub-pixel
    assert receptive_radius(build_model("fsrcnn", 2)) == 2 + 4 + 2  # deconv 9x9 stride 2 reaches 2 LR pixels


@pytest.mark.parametrize("log2,depth,size", [((1, 1), 8, None), ((1, 0), 10, None), ((0, 0), 8, None),
                                             ((1, 1), 10, (130, 70))])
def test_the_numpy_host_path_equals_the_torch_path(log2, depth, size):
    """ONNX Runtime on NumPy (tiled, batched, chroma bicubic with its siting, an exact target
    size, quantisation) gives what PyTorch on tensors gives, to float rounding at .5."""
    from vsr.upscale.host import HostUpscaler
    from vsr.models.export import export_onnx

    model = _random_model("espcn", 2)
    ort_b, torch_b = OnnxRuntimeBackend(export_onnx(model), 2), TorchBackend(model)
    assert ort_b.host and not torch_b.host
    frames = [_frame(37, 50, depth, log2, seed=i) for i in range(3)]
    ref = [Upscaler(torch_b, 4, size=size).upscale([f])[0] for f in frames]
    host = HostUpscaler(ort_b, 4, tile=20, size=size, workers=2)
    try:
        batched = host.upscale(frames)
    finally:
        host.close()  # its worker threads would outlive the test (later tests count vsr- threads)
    for a, b in zip(batched, ref):
        for pa, pb in zip(a.planes, b.planes):
            assert pa.shape == pb.shape and pa.dtype == pb.dtype
            assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 1  # float rounding at .5 only


@pytest.mark.parametrize(
    "depth,log2,gray", [(8, (1, 1), False), (10, (1, 1), False), (8, (1, 0), False), (10, (0, 0), False),
                        (8, (0, 0), True), (10, (0, 0), True)]
)
def test_planes_sizes_depth_and_timing_kept(depth, log2, gray):
    up = Upscaler(TorchBackend(_random_model("espcn", 2)), 4)
    f = _frame(45, 67, depth, log2, gray)
    (out,) = up.upscale([f])
    assert (out.width, out.height) == (134, 90)
    assert out.planes[0].dtype == f.planes[0].dtype and out.bit_depth == depth
    assert out.planes[0].max() <= (1 << depth) - 1
    if not gray:
        assert out.planes[1].shape == out.chroma_size(134, 90) == (-(-90 >> log2[1]), -(-134 >> log2[0]))
    assert (out.pts, out.time_base, out.color, out.log2_chroma) == (f.pts, f.time_base, f.color, f.log2_chroma)


def test_target_size_resizes_exactly():
    up = Upscaler(TorchBackend(_random_model("espcn", 2)), 4, size=(100, 60))
    (out,) = up.upscale([_frame(40, 64)])
    assert out.planes[0].shape == (60, 100) and out.planes[1].shape == (30, 50)


def test_memory_budget_tiles_automatically():
    model = _random_model("espcn", 2)
    f = _frame(64, 96)
    whole = Upscaler(TorchBackend(model), 4).upscale([f])[0]
    seen = []

    class Recording(TorchBackend):  # the real backend, noting the size of every call
        def run(self, y):
            seen.append(tuple(y.shape[-2:]))
            return super().run(y)

    small = Upscaler(Recording(model), 4, memory_budget=64 * 3 * 4 * 900)  # ~30x30 pixels
    tiled = small.upscale([f])[0]
    assert len(seen) > 1 and max(h * w for h, w in seen) < 64 * 96  # it went through in tiles
    for a, b in zip(tiled.planes, whole.planes):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_resize_matches_torch_bicubic_and_keeps_left_chroma_siting():
    x = torch.rand(1, 2, 9, 13)
    ref = torch.nn.functional.interpolate(x, size=(18, 26), mode="bicubic", align_corners=False)
    assert torch.allclose(resize(x, 18, 26), ref, atol=1e-6)
    # left-sited 4:2:0 chroma: sample i sits on luma 2i. After x2, output chroma j sits on output
    # luma 2j = input luma j - 0.25 = input chroma j/2 - 0.125. A smooth signal must land there.
    i = torch.arange(64.0)
    signal = torch.cos(2 * math.pi * i / 32)[None, None, None, :]
    j = torch.arange(8, 120, dtype=torch.float32)
    expected = torch.cos(2 * math.pi * (j / 2 - 0.125) / 32)
    sited = resize(signal, 1, 128, 0.0, chroma_offset(64, 128, 1, True))[0, 0, 0, 8:120]
    centred = resize(signal, 1, 128)[0, 0, 0, 8:120]
    assert (sited - expected).abs().max() < 0.01 < (centred - expected).abs().max()


def test_auto_device_on_this_machine():
    from vsr.devices import parse_device, resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected and parse_device("auto")[0] == expected
    assert resolve_device("cuda:1") == "cuda:1"


def test_choose_tile_for_large_pictures_and_engines():
    from vsr.upscale.plan import choose_tile

    backend = TorchBackend(_random_model("espcn", 2))
    assert choose_tile(backend, 1, 1080, 1920, 4) == 0  # 1080p fits 2 GiB of FP32 activations
    tile = choose_tile(backend, 1, 4000, 6000, 4)  # a 24-megapixel photo does not: it is tiled
    assert 0 < tile < 4000
    assert choose_tile(backend, 1, 4000, 6000, 4, tile=256) == 256  # the user's choice wins
    assert choose_tile(backend, 1, 48, 64, 4, tile=3) == 16  # unless it is smaller than its own overlap
    backend.max_size = (512, 512)  # as a TensorRT engine built for 512x512 reports it
    assert choose_tile(backend, 1, 600, 500, 4) == 512
