"""tools.train: a short run on a tiny folder learns, a second run resumes from its checkpoint (in the
checkpoint folder, outside the repository), and an export records the checkpoint's SHA-256, the
hardware read from the machine and the stages it continued."""

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


def _l1(net: torch.nn.Module, data: Path) -> float:
    """Mean L1 between the network's output and HR luma over the whole (un-augmented) folder."""
    from tools.patches import load_pairs

    with torch.no_grad():
        return float(np.mean([
            (net(torch.from_numpy(lr)[None, None]) - torch.from_numpy(hr)[None, None]).abs().mean().item()
            for lr, hr in load_pairs(data, 2, (1.0,))
        ]))


def test_train_learns_and_resumes(train, folders, tmp_path: Path, caplog, monkeypatch) -> None:
    """Without --run-dir the run lives in MODEL_xSCALE under $VSR_CHECKPOINTS; the checkpoint
    records the hardware each session trained on, read from the machine."""
    from tools.provenance import cpu_description, hardware
    from vsr.models import build_model

    data, val = folders
    monkeypatch.setenv("VSR_CHECKPOINTS", str(tmp_path / "checkpoints"))
    run = tmp_path / "checkpoints" / "espcn_x2"
    threads = torch.get_num_threads()
    common = ["--model", "espcn", "--scale", "2", "--data", str(data), "--val", str(val), "--jitter", "1.0",
              "--batch", "8", "--patch", "12", "--lr", "0.02", "--device", "cpu", "--ckpt-every", "10",
              "--val-every", "10"]
    torch.manual_seed(0)  # the network's initial weights come from the global generator
    train.main([*common, "--steps", "30"])
    ck = torch.load(run / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 30
    assert [s for s, _ in ck["history"]] == [10, 20, 30]
    assert ck["config"]["hardware"] == [hardware("cpu")]
    assert ck["config"]["hardware"][0].startswith(cpu_description())
    assert f"PyTorch {torch.__version__}" in ck["config"]["hardware"][0]

    # ESPCN starts as nearest-neighbour upsampling (its last layer is zero), whatever the seed
    net = build_model("espcn", 2).eval()
    before = _l1(net, data)
    net.load_state_dict(ck["model"])
    after = _l1(net, data)
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


def test_shipped_checkpoints_are_checksummed_and_a_restored_one_continues_their_stages(tmp_path):
    """Every shipped set records the SHA-256 of the checkpoint it came from (the ones removed from
    the tree with the commit that still holds them); restored from that commit, a checkpoint is
    recognised by its checksum, so a run started from it appends itself to the set's stages."""
    import subprocess

    from tools import restore_checkpoint
    from tools.provenance import earlier_stages
    from vsr.models.weights import get_spec, list_models

    for spec in list_models("clean") + list_models("compressed"):
        prov = spec.provenance
        name = Path(prov["checkpoint"]).parent.name
        assert prov["checkpoint_sha256"] == restore_checkpoint.CHECKSUMS[name], spec.key
        assert prov["checkpoint_commit"] == restore_checkpoint.COMMIT
    assert earlier_stages("espcn", 2, None, "cmd") == {}

    has_commit = subprocess.run(["git", "cat-file", "-e", restore_checkpoint.COMMIT], cwd=REPO,
                                capture_output=True).returncode == 0
    if not has_commit:
        pytest.skip(f"restoring needs a git clone with commit {restore_checkpoint.COMMIT[:12]} (not a shallow one)")
    for spec, name in ((get_spec("espcn", 2), "espcn_x2_long"), (get_spec("fsrcnn", 2, "compressed"),
                                                                  "fsrcnn_x2_compressed_s3")):
        path = restore_checkpoint.restore(name, tmp_path)
        assert path == tmp_path / name / "checkpoint.pt"
        carried = earlier_stages(spec.name, spec.scale, str(path), "python -m tools.train ...")
        before = spec.provenance.get("stages") or [spec.provenance["command"]]
        assert carried["stages"] == [*before, f"python -m tools.train ... --init {path}"]
        assert carried["hardware"] == spec.provenance["hardware"]
    # another set's checkpoint is not this set's: a new history
    assert earlier_stages("espcn", 2, str(restore_checkpoint.restore("espcn_x3", tmp_path)), "cmd") == {}


def test_codec_degradation_trains_on_the_cache_and_exports_a_compressed_set(train, tmp_path, monkeypatch,
                                                                            shared_data):
    """--degradation codec: patches come from tools/degrade.py's cache, the held-out degraded
    pairs are validated, and --export writes the ``compressed`` set next to the clean one."""
    import av
    from PIL import Image

    from tools import degrade
    from tools.provenance import hardware
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
    assert spec.provenance["checkpoint_sha256"] == weights_mod.sha256_file(run / "checkpoint.pt")
    assert spec.provenance["hardware"] == hardware("cpu")  # this session's machine, read, not typed in

    # a run started from that checkpoint continues the set's history; from a copy with other bytes it does not
    from tools.provenance import earlier_stages

    carried = earlier_stages("espcn", 2, str(run / "checkpoint.pt"), "next")
    assert carried == {"stages": [spec.provenance["command"], f"next --init {run / 'checkpoint.pt'}"],
                       "hardware": spec.provenance["hardware"]}
    other = tmp_path / "other.pt"
    other.write_bytes((run / "checkpoint.pt").read_bytes() + b"\0")
    assert earlier_stages("espcn", 2, str(other), "next") == {}


def test_focus_draws_its_share_from_h26x_pairs_in_the_crf_range(tmp_path, shared_data):
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
    from tools import patches

    assert list(patches.H26X) == [degrade.KINDS.index("libx264"), degrade.KINDS.index("libx265")]
    sampler = patches.CacheSampler(cache, 2, 16, np.random.default_rng(0), focus=(24, 36, 0.6))
    in_range = h26x & (quality >= 24) & (quality <= 36)
    assert 0 < len(sampler.focus) == int(in_range[: sampler.n].sum())
    k = sampler.indices(20000)
    assert k.max() < sampler.n
    base = in_range[: sampler.n].mean()  # what a draw from the whole training part hits
    assert abs(in_range[k].mean() - (0.6 + 0.4 * base)) < 0.02
    lr, hr = sampler.batch(4)
    assert lr.shape == (4, 1, 16, 16) and hr.shape == (4, 1, 32, 32)
    assert patches.parse_focus("24-36:0.6") == (24, 36, 0.6) and patches.parse_focus(None) is None
    for bad in ("24:0.6", "36-24:0.5", "24-36:0", "a-b:c"):
        with pytest.raises(SystemExit, match="--focus"):
            patches.parse_focus(bad)
