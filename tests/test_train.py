"""tools/train.py: a short run on a tiny folder learns, and a second run resumes from its checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def train():
    from tools import train

    return train


@pytest.fixture()
def folders(shared_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(train, val): three Set5 images shrunk to 96 px, and one 48 px crop to validate on."""
    data, val = tmp_path / "train", tmp_path / "val"
    data.mkdir()
    val.mkdir()
    for name in ("bird", "butterfly", "head"):
        with Image.open(shared_data / "val" / "Set5" / f"{name}.png") as im:
            im.convert("RGB").resize((96, 96), Image.BICUBIC).save(data / f"{name}.png")
    with Image.open(shared_data / "val" / "Set5" / "woman.png") as im:
        im.convert("RGB").crop((60, 100, 108, 148)).save(val / "woman.png")
    return data, val


def _l1(train, net: torch.nn.Module, data: Path) -> float:
    """Mean L1 between the network's output and HR luma over the whole (un-augmented) folder."""
    with torch.no_grad():
        return float(np.mean([
            (net(torch.from_numpy(lr)[None, None]) - torch.from_numpy(hr)[None, None]).abs().mean().item()
            for lr, hr in train.load_pairs(data, 2, (1.0,))
        ]))


def test_train_learns_and_resumes(train, folders, tmp_path: Path, caplog) -> None:
    data, val = folders
    run = tmp_path / "run"
    threads = torch.get_num_threads()
    common = ["--model", "espcn", "--scale", "2", "--data", str(data), "--val", str(val), "--run-dir", str(run),
              "--jitter", "1.0", "--batch", "8", "--patch", "12", "--lr", "0.02", "--device", "cpu",
              "--ckpt-every", "10", "--val-every", "10"]
    torch.manual_seed(0)  # the network's initial weights come from the global generator
    train.main([*common, "--steps", "30"])
    ck = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 30
    assert [s for s, _ in ck["history"]] == [10, 20, 30]

    # ESPCN starts as nearest-neighbour upsampling (its last layer is zero), whatever the seed
    net = train.build_model("espcn", 2).eval()
    before = _l1(train, net, data)
    net.load_state_dict(ck["model"])
    after = _l1(train, net, data)
    assert after < 0.95 * before, f"L1 {before:.4f} -> {after:.4f}"
    assert ck["history"][-1][1] > ck["history"][0][1]  # validation PSNR rose too

    caplog.clear()
    caplog.set_level(logging.INFO, logger="train")
    train.main([*common, "--steps", "50"])
    assert any("resumed" in r.getMessage() and "step 30" in r.getMessage() for r in caplog.records)
    ck2 = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ck2["step"] == 50
    assert [s for s, _ in ck2["history"]] == [10, 20, 30, 40, 50]
    assert ck2["history"][:3] == ck["history"]
    assert ck2["config"]["steps"] == "50"
    assert torch.get_num_threads() == threads


def test_export_of_a_continuation_keeps_the_earlier_stages(train):
    """A run started from the shipped weights' checkpoint appends itself to their stages;
    a run from scratch (or from another checkpoint) starts a new history. A later stage of the
    compressed set (started from its checkpoint) continues the compressed set's history."""
    from vsr.models.weights import get_spec

    for spec in (get_spec("espcn", 2), get_spec("fsrcnn", 4), get_spec("fsrcnn", 2, "compressed")):
        shipped = spec.provenance["checkpoint"]
        assert (REPO / shipped).is_file()
        carried = train._earlier_stages(spec.name, spec.scale, str(REPO / shipped), "python tools/train.py ...")
        before = spec.provenance.get("stages") or [spec.provenance["command"]]
        assert carried["stages"] == [*before, f"python tools/train.py ... --init {shipped}"]
        assert carried["hardware"] == spec.provenance["hardware"]
    assert train._earlier_stages("espcn", 2, None, "cmd") == {}
    assert train._earlier_stages("espcn", 2, str(REPO / "tools/checkpoints/espcn_x3/checkpoint.pt"), "cmd") == {}


def test_codec_degradation_trains_on_the_cache_and_exports_a_compressed_set(train, tmp_path, monkeypatch,
                                                                            shared_data):
    """--degradation codec: patches come from tools/degrade.py's cache, the held-out degraded
    pairs are validated, and --export writes the ``compressed`` set next to the clean one."""
    import av
    from PIL import Image

    from tools import degrade
    from vsr.models import weights as weights_mod

    rgb = np.asarray(Image.open(shared_data / "val" / "Set5" / "butterfly.png").convert("RGB"))
    src = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
    cache = degrade.build_cache(tmp_path / "x2", 2, 60, sources=[src.to_ndarray()])
    val = tmp_path / "val"
    val.mkdir()
    Image.fromarray(rgb[:64, :64]).save(val / "crop.png")
    run = tmp_path / "run"
    common = ["--model", "espcn", "--scale", "2", "--degradation", "codec", "--cache", str(cache),
              "--val", str(val), "--run-dir", str(run), "--batch", "8", "--patch", "16",
              "--lr", "0.01", "--device", "cpu", "--ckpt-every", "10", "--val-every", "10", "--steps", "20"]
    torch.manual_seed(0)
    train.main(common)
    ck = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 20 and ck["config"]["degradation"] == "codec"
    hist = ck["config"]["cache_history"]
    assert [s for s, _ in hist] == [10, 20] and all(20 < db < 60 for _, db in hist)

    manifest = tmp_path / "weights" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text(weights_mod.MANIFEST.read_text())
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", manifest.parent)
    monkeypatch.setattr(weights_mod, "MANIFEST", manifest)
    train.main([*common, "--export"])
    spec = weights_mod.get_spec("espcn", 2, "compressed")
    assert spec.file == "espcn_x2_compressed.pt" and spec.path.is_file()
    assert "--degradation codec" in spec.provenance["command"] and "degrade.py" in spec.provenance["data"]
    assert weights_mod.get_spec("espcn", 2).sha256 == weights_mod.get_spec("espcn", 2, "clean").sha256


def test_focus_draws_its_share_from_h26x_pairs_in_the_crf_range(train, tmp_path, shared_data):
    """--focus LO-HI:SHARE: about SHARE of the drawn pairs are x264/x265 at CRF LO-HI, the rest
    come from the whole training part of the cache, and the held-out pairs are never drawn."""
    import av
    from PIL import Image

    from tools import degrade

    rgb = np.asarray(Image.open(shared_data / "val" / "Set5" / "butterfly.png").convert("RGB"))
    src = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
    cache = degrade.load_cache(degrade.build_cache(tmp_path / "x2", 2, 80, sources=[src.to_ndarray()]))
    kind, quality = np.asarray(cache["kind"]), np.asarray(cache["quality"])
    h26x = np.isin(kind, [degrade.KINDS.index("libx264"), degrade.KINDS.index("libx265")])
    assert list(train.H26X) == [degrade.KINDS.index("libx264"), degrade.KINDS.index("libx265")]
    sampler = train.CacheSampler(cache, 2, 16, np.random.default_rng(0), focus=(24, 36, 0.6))
    in_range = h26x & (quality >= 24) & (quality <= 36)
    assert 0 < len(sampler.focus) == int(in_range[: sampler.n].sum())
    k = sampler.indices(20000)
    assert k.max() < sampler.n
    base = in_range[: sampler.n].mean()  # what a draw from the whole training part hits
    assert abs(in_range[k].mean() - (0.6 + 0.4 * base)) < 0.02
    lr, hr = sampler.batch(4)
    assert lr.shape == (4, 1, 16, 16) and hr.shape == (4, 1, 32, 32)
    assert train.parse_focus("24-36:0.6") == (24, 36, 0.6) and train.parse_focus(None) is None
    for bad in ("24:0.6", "36-24:0.5", "24-36:0", "a-b:c"):
        with pytest.raises(SystemExit, match="--focus"):
            train.parse_focus(bad)
