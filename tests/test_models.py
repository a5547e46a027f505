"""Every registered architecture at every scale, and every shipped weights file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vsr.errors import ModelError, WeightsError
from vsr.models import SCALES, build_model, list_architectures, model_card, register_model
from vsr.models import weights as weights_mod
from vsr.models.export import inference_form
from vsr.models.flops import flops_per_pixel
from vsr.models.fsrcnn import FSRCNN
from vsr.models.weights import list_models, create_model, sha256_file

REPO = Path(__file__).resolve().parent.parent
ARCHS = [(name, scale) for name in list_architectures() for scale in model_card(name).scales]
SHIPPED = [(s.name, s.scale, s.weights) for s in list_models()]  # every weight set


def _ids(pairs):
    return [f"{n}_x{s}" + (f"_{w[0]}" if w and w[0] != "clean" else "") for n, s, *w in pairs]


# --- every registered architecture ------------------------------------------------------


@pytest.mark.parametrize(("name", "scale"), ARCHS, ids=_ids(ARCHS))
def test_architecture(name: str, scale: int, torch_seed) -> None:
    net = build_model(name, scale).eval()
    for p in net.parameters():  # non-trivial weights: the fresh residual layer is (near) zero
        p.data.normal_(0, 0.1)
    x = torch.rand(2, 1, 13, 17)
    with torch.no_grad():
        out = net(x)
        again = net(x)
    assert out.shape == (2, 1, 13 * scale, 17 * scale)
    assert out.dtype == torch.float32
    assert torch.equal(out, again), "inference is not deterministic"
    clamped = out.clamp(0, 1)
    assert clamped.min() >= 0 and clamped.max() <= 1
    assert out.std() > 0
    # the batch items are independent
    with torch.no_grad():
        single = net(x[1:])
    torch.testing.assert_close(single, out[1:], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("name", "scale"), ARCHS, ids=_ids(ARCHS))
def test_inference_form_is_equivalent(name: str, scale: int, torch_seed) -> None:
    net = build_model(name, scale).eval()
    for p in net.parameters():
        p.data.normal_(0, 0.1)
    x = torch.rand(1, 1, 11, 9)
    with torch.no_grad():
        ref = net(x)
        fast = inference_form(net)(x)
    assert (ref - fast).abs().max() < 1e-5
    assert flops_per_pixel(build_model(name, scale)) > 0


@pytest.mark.parametrize("scale", SCALES)
def test_fsrcnn_subpixel_equals_deconvolution(scale: int) -> None:
    torch.manual_seed(scale)
    net = FSRCNN(scale).eval()
    for p in net.parameters():
        p.data.normal_(0, 0.1)
    x = torch.rand(2, 1, 10, 12)
    with torch.no_grad():
        ref = net(x)
        net.to_subpixel()
        out = net(x)
    assert net.subpixel and isinstance(net.deconv, torch.nn.Conv2d)
    assert ref.abs().max() > 0.1  # the comparison is not between near-zero outputs
    assert (ref - out).abs().max() < 1e-5


def test_flops_are_counted_from_the_layers() -> None:
    # ESPCN at x2: 5x5 1->64, 3x3 64->32, 3x3 32->4, MACs per input pixel, x2 for FLOPs
    assert flops_per_pixel(build_model("espcn", 2)) == 2 * (25 * 64 + 9 * 64 * 32 + 9 * 32 * 4)
    # FSRCNN trained form: body + 9x9 deconvolution 56->1 over every input pixel
    body = 25 * 56 + 56 * 12 + 4 * 9 * 12 * 12 + 12 * 56
    assert flops_per_pixel(build_model("fsrcnn", 3), form="trained") == 2 * (body + 81 * 56)
    # inference form: sub-pixel conv 56 -> 9 channels, its kernel gathers every third tap
    assert flops_per_pixel(build_model("fsrcnn", 3)) == 2 * (body + 5 * 5 * 56 * 9)


def test_duplicate_registration_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model(list_architectures()[0])(lambda scale: None)


def test_unknown_model_or_scale() -> None:
    with pytest.raises(ModelError, match="unknown model"):
        build_model("nope", 2)
    with pytest.raises(ModelError, match="unsupported scale"):
        build_model("espcn", 5)


# --- every shipped weights file ---------------------------------------------------------


@pytest.mark.parametrize(("name", "scale", "weights"), SHIPPED, ids=_ids(SHIPPED))
def test_shipped_weights_load(name: str, scale: int, weights: str) -> None:
    spec = weights_mod.get_spec(name, scale, weights)
    assert spec.weights == weights and spec.key.endswith("" if weights == "clean" else "_" + weights)
    assert sha256_file(spec.path) == spec.sha256
    net = create_model(name, scale, weights)
    assert not net.training
    assert sum(p.numel() for p in net.state_dict().values()) == spec.params
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in net.parameters())


@pytest.mark.parametrize(("name", "scale", "weights"), SHIPPED, ids=_ids(SHIPPED))
def test_tampered_weights_are_refused(name: str, scale: int, weights: str, tmp_path: Path, monkeypatch) -> None:
    spec = weights_mod.get_spec(name, scale, weights)
    copy = tmp_path / spec.file
    shutil.copyfile(spec.path, copy)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({spec.key: json.loads(weights_mod.MANIFEST.read_text())[spec.key]}))
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(weights_mod, "MANIFEST", manifest)
    create_model(name, scale, weights)  # the intact copy loads
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum") as broken:
        create_model(name, scale, weights)
    assert broken.value.exit_code == 1  # a broken install, not a usage error (2)
    copy.unlink()
    with pytest.raises(WeightsError, match="missing"):
        create_model(name, scale, weights)


@pytest.mark.parametrize(("name", "scale", "weights"), SHIPPED, ids=_ids(SHIPPED))
def test_shipped_model_beats_bicubic(name: str, scale: int, weights: str, shared_data: Path) -> None:
    """Both sets beat bicubic on clean LR (the compressed one by less: it was fine-tuned to
    leave codec artifacts alone)."""
    from tools import evaluate

    hr = evaluate.load_hr(shared_data / "val" / "Set5" / "butterfly.png")
    net_psnr, net_ssim = evaluate.score_image(hr, scale, create_model(name, scale, weights))
    bic_psnr, bic_ssim = evaluate.score_image(hr, scale, None)
    margin = 0.5 if scale == 2 else 0.3
    assert net_psnr >= bic_psnr + margin, f"{name} x{scale}: {net_psnr:.2f} dB vs bicubic {bic_psnr:.2f} dB"
    assert net_ssim > bic_ssim
    assert np.isfinite(net_psnr)
