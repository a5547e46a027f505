"""vsr.upscale_image and ``vsr image`` end to end, on a real Set5 picture."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vsr
from vsr.cli import main
from vsr.errors import MediaError, UsageError
from vsr.image import read_image, write_image
from vsr.models.weights import list_models
from vsr.quality import downscale, modcrop, psnr, rgb_to_y, rgb_to_ycbcr

SHIPPED_X2 = sorted(s.name for s in list_models() if s.scale == 2)
needs_x2 = pytest.mark.skipif(not SHIPPED_X2, reason="no shipped x2 weights")
needs_cuda = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def butterfly(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR): Set5 butterfly cropped to even size, ``(256, 256, 3)`` and its ``(128, 128, 3)`` x2 downscale."""
    hr = modcrop(np.asarray(Image.open(shared_data / "val" / "Set5" / "butterfly.png").convert("RGB")), 2)
    return hr, downscale(hr, 2)


@pytest.fixture()
def small_png(butterfly, tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    Image.fromarray(butterfly[1][:40, :56]).save(path)
    return path


def test_import_vsr_is_light() -> None:
    import subprocess

    code = "import sys, vsr; assert 'upscale_image' in vsr.__all__; print('torch' in sys.modules, 'av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["False", "False"]
    assert vsr.upscale_image is vsr.image.upscale_image
    assert vsr.list_models() == list_models()
    with pytest.raises(AttributeError):
        vsr.no_such_function  # noqa: B018


@needs_x2
@pytest.mark.parametrize("model", SHIPPED_X2)
def test_upscale_image_beats_bicubic(model: str, butterfly) -> None:
    hr, lr = butterfly
    out = vsr.upscale_image(lr, model=model, scale=2)
    assert out.shape == hr.shape and out.dtype == np.uint8
    bicubic = np.asarray(Image.fromarray(lr).resize((256, 256), Image.BICUBIC))
    gain = psnr(rgb_to_y(out), rgb_to_y(hr), 2) - psnr(rgb_to_y(bicubic), rgb_to_y(hr), 2)
    assert gain > 0.5, f"{model}: only {gain:.2f} dB over bicubic"
    # colour comes through: Cb and Cr are bicubic's, up to rounding and the resampler
    chroma, chroma_bicubic = rgb_to_ycbcr(out)[..., 1:], rgb_to_ycbcr(bicubic)[..., 1:]
    assert np.abs(chroma - chroma_bicubic).mean() < 1


@needs_x2
def test_upscale_image_gray(butterfly) -> None:
    lr = butterfly[1][:48, :40]
    gray = vsr.upscale_image(lr[..., 1], model=SHIPPED_X2[0], scale=2)
    assert gray.shape == (96, 80, 3) and gray.dtype == np.uint8
    assert np.abs(gray[..., 0].astype(int) - gray[..., 2]).max() <= 1  # stays gray
    colour = vsr.upscale_image(np.repeat(lr[..., 1:2], 3, axis=2), model=SHIPPED_X2[0], scale=2)
    np.testing.assert_array_equal(gray, colour)  # (H, W) is the same as R = G = B


@needs_x2
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_upscale_image_torch_on_device(device: str, butterfly) -> None:
    lr = butterfly[1][:32, :48]
    reference = vsr.upscale_image(lr, model=SHIPPED_X2[0], scale=2, backend="onnxruntime")
    out = vsr.upscale_image(lr, model=SHIPPED_X2[0], scale=2, backend="torch", device=device)
    assert out.shape == (64, 96, 3) and out.dtype == np.uint8 and isinstance(out, np.ndarray)
    assert np.abs(out.astype(int) - reference).max() <= (1 if device == "cpu" else 3)  # FP16 on CUDA


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8, 4), np.uint8), "shape"),
        (np.zeros((2, 8, 8, 3), np.uint8), "shape"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        ([[0, 1], [2, 3]], "numpy array"),
    ],
)
def test_upscale_image_rejects_bad_input(bad, match: str) -> None:
    with pytest.raises(MediaError, match=match):
        vsr.upscale_image(bad)


def test_read_write_image(tmp_path: Path, rng) -> None:
    rgb = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    assert read_image(tmp_path / "g.png").shape == (6, 9)
    with pytest.raises(UsageError, match="PNG and JPEG only"):
        write_image(tmp_path / "a.gif", rgb)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(MediaError, match="not an image"):
        read_image(tmp_path / "junk.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "g.png", "junk.png"]  # no temporaries left


# --- vsr image ----------------------------------------------------------------------------


@needs_x2
def test_cli_image(small_png: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    assert main(["image", str(small_png), "-o", str(out), "--model", SHIPPED_X2[0]]) == 0
    with Image.open(out) as im:
        assert im.size == (112, 80) and im.mode == "RGB"
    assert "wrote" in capsys.readouterr().out
    jpg = tmp_path / "out.jpg"
    assert main(["image", str(small_png), "-o", str(jpg), "--backend", "torch"]) == 0
    with Image.open(jpg) as im:
        assert im.format == "JPEG" and im.size == (112, 80)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "out.jpg", "out.png"]


def test_cli_image_missing_input(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    code = main(["image", str(tmp_path / "missing.png"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and "missing.png" in err and err.startswith("vsr: error:")
    assert not out.exists() and list(tmp_path.iterdir()) == []


@needs_x2
def test_cli_image_refuses_to_overwrite(small_png: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    assert main(["image", str(small_png), "-o", str(out)]) != 0
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["image", str(small_png), "-o", str(small_png), "--overwrite"]) != 0  # never onto the input
    assert main(["image", str(small_png), "-o", str(out), "--overwrite"]) == 0
    with Image.open(out) as im:
        assert im.size == (112, 80)


def test_cli_image_errors_are_one_line(small_png: Path, tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 not really a jpeg")
    for argv in (
        [str(junk), "-o", str(tmp_path / "a.png")],
        [str(small_png), "-o", str(tmp_path / "a.gif")],
        [str(small_png), "-o", str(tmp_path / "a.png"), "--model", "nope"],
    ):
        assert main(["image", *argv]) != 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("vsr: error:"), err
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "a.gif").exists()


def test_cli_models(capsys) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    specs = list_models()
    if not specs:
        assert "no shipped models" in lines[0]
        return
    assert lines[0].split() == ["model", "scale", "weights", "params", "FLOPs/px", "Set5", "PSNR", "bicubic",
                                "CRF", "30", "gain"]
    assert len(lines) == 1 + len(specs)
    assert {s.weights for s in specs} <= {"clean", "compressed"} and "clean" in {s.weights for s in specs}
    for line, spec in zip(lines[1:], specs):  # every weight set, each with its figures
        cells = line.split()
        assert cells[:4] == [spec.name, f"x{spec.scale}", spec.weights, f"{spec.params:,}"]
        assert cells[5:7] == [f"{spec.provenance['set5_psnr']:.2f}", "dB"]
        assert cells[7:9] == [{2: "33.66", 3: "30.39", 4: "28.42"}[spec.scale], "dB"]
        gain = spec.provenance.get("video_gain_crf30")
        assert cells[9:] == (["-"] if gain is None else [f"{gain:+.2f}", "dB"])
