"""Quality on real compressed video: tools.evaluate_video's protocol checked against a direct
computation, the compressed weight set against bicubic and the clean set through the CLI, and
the choice of weight set."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import numpy as np
import pytest

from media import psnr
from vsr.cli import main
from vsr.models.weights import list_models
from vsr.samples import sample_path

BIKES = sample_path("bikes.mp4")  # shipped in the package: these tests need no data root

COMPRESSED_X2 = sorted(s.name for s in list_models("compressed") if s.scale == 2)
needs_compressed = pytest.mark.skipif(not COMPRESSED_X2, reason="no compressed x2 weights shipped")


@pytest.fixture(scope="module")
def ev():
    from tools import evaluate_video

    return evaluate_video


def _y(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray()[: frame.height].astype(np.float64)


def _clip_psnr(ref: list[np.ndarray], out: list[np.ndarray], shave: int) -> float:
    """One MSE over every frame, ``shave`` px off each border (written here, not the tool's)."""
    a = np.stack([x[shave:-shave, shave:-shave] for x in ref])
    b = np.stack([x[shave:-shave, shave:-shave] for x in out])
    return psnr(a, b, 255.0)


def test_evaluate_video_reproduces_a_direct_bicubic_figure(ev, tmp_path):
    """bikes.mp4 (640x272), 6 frames, x2: the tool's bicubic PSNR on lossless LR equals the one
    computed here straight from PyAV/swscale; H.264 CRF 30 LR scores lower; ESPCN beats it."""
    clip = BIKES
    out = tmp_path / "rows.json"
    assert ev.main(["--clips", str(clip), "--frames", "6", "--crf", "lossless,30", "--models", "espcn",
                    "--weights", "clean", "--json", str(out)]) == 0
    rows = {r["crf"]: r for r in json.loads(out.read_text())["x2"]["rows"]}
    assert set(rows) == {"lossless", "30"} and all(r["frames"] == 6 and r["size"] == "640x272" for r in rows.values())

    hr = []
    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            hr.append(f.reformat(format="yuv420p"))
            if len(hr) == 6:
                break
    down = [f.reformat(320, 136, interpolation="BICUBIC") for f in hr]
    up = [_y(f.reformat(640, 272, interpolation="BICUBIC")) for f in down]
    direct = _clip_psnr([_y(f) for f in hr], up, 2)
    assert 30 < direct < 60
    assert rows["lossless"]["bicubic_psnr"] == pytest.approx(direct, abs=0.002)
    assert rows["30"]["bicubic_psnr"] < direct - 1  # the codec costs more than a dB
    assert rows["lossless"]["gain"] > 0.5 and rows["lossless"]["psnr"] == pytest.approx(
        rows["lossless"]["bicubic_psnr"] + rows["lossless"]["gain"], abs=0.002)
    # the pixel budget: bikes is 640x272 (0.174 Mpx a frame)
    assert [ev.clip_frames(clip, 24, mp) for mp in (None, 50, 1, 0.1)] == [24, 24, 5, 2]
    ev.write_json(out, 3, {"frames": 6, "rows": []})  # another scale is added beside, not over, x2
    merged = json.loads(out.read_text())
    assert sorted(merged) == ["x2", "x3"] and merged["x2"]["frames"] == 6 and len(merged["x2"]["rows"]) == 2


def _crf30_case(ev, clip: Path, tmp_path: Path, frames: int = 8, box: tuple[int, int, int, int] = (0, 0, 320, 240)):
    """HR: ``box`` (x, y, w, h) of the clip's first frames; LR: x2 swscale bicubic, H.264 CRF 30."""
    x, y, w, h = box
    hr = []
    for f in ev.read_hr(clip, frames, 2)[0]:
        a = f.to_ndarray()
        fh, fw = f.height, f.width
        u = a[fh:].reshape(2, fh // 2, fw // 2)[:, y // 2 : (y + h) // 2, x // 2 : (x + w) // 2]
        packed = np.concatenate([a[y : y + h, x : x + w].ravel(), u[0].ravel(), u[1].ravel()]).reshape(-1, w)
        hr.append(av.VideoFrame.from_ndarray(packed, format="yuv420p"))
    lr = tmp_path / "lr.mkv"
    ev.write_lr(hr, 2, "30", 25, lr)
    return [_y(f) for f in hr], lr


@needs_compressed
@pytest.mark.parametrize("model", COMPRESSED_X2)
def test_compressed_weights_beat_bicubic_and_clean_on_crf30_through_the_cli(ev, shared_data, tmp_path, model):
    hr, lr = _crf30_case(ev, shared_data / "video" / "test1.mp4", tmp_path, box=(200, 120, 320, 240))
    bicubic = _clip_psnr(hr, [_y(f.reformat(320, 240, interpolation="BICUBIC")) for f in ev.decode(lr)], 2)
    got = {}
    for weights in ("clean", "compressed"):
        out = tmp_path / f"{weights}.mkv"
        assert main(["upscale", str(lr), "-o", str(out), "--model", model, "--weights", weights, "--codec", "ffv1",
                     "--progress", "none"]) == 0
        frames = ev.decode(out)
        assert len(frames) == len(hr) and (frames[0].width, frames[0].height) == (320, 240)
        got[weights] = _clip_psnr(hr, [_y(f) for f in frames], 2)
    assert got["compressed"] > bicubic + 0.1, (got, bicubic)
    assert got["compressed"] > got["clean"] + 0.1, (got, bicubic)


def test_auto_picks_clean_for_lossless_and_compressed_for_low_rate(ev, tmp_path, caplog):
    """``--weights auto`` (the default) runs the clean set on FFV1 and, where shipped, the
    compressed one on H.264 at CRF 30 (about 0.05 bits per pixel)."""
    hr, lr = _crf30_case(ev, BIKES, tmp_path, frames=4, box=(0, 0, 160, 128))
    lossless = tmp_path / "lossless.mkv"
    ev.write_lr(ev.read_hr(BIKES, 4, 2)[0], 2, "lossless", 25, lossless)
    caplog.set_level(logging.INFO, logger="vsr.models.choice")
    for src, want in ((lossless, "clean"), (lr, "compressed" if "espcn" in COMPRESSED_X2 else "clean")):
        caplog.clear()
        assert main(["upscale", str(src), "-o", str(tmp_path / f"{src.stem}_sr.mkv"), "--progress", "none"]) == 0
        chosen = [r.getMessage() for r in caplog.records if r.getMessage().startswith("weights auto:")]
        assert len(chosen) == 1 and chosen[0].split()[2] == want, chosen


def test_missing_weight_set_is_one_line_error(capsys, tmp_path, monkeypatch):
    """An explicit set that is not shipped for the model and scale fails before any work, in one
    line (every pair ships both sets now, so the manifest read here lacks FSRCNN x4's)."""
    from vsr.models import weights as weights_mod

    entries = json.loads(weights_mod.MANIFEST.read_text())
    del entries["fsrcnn_x4_compressed"]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(entries))
    monkeypatch.setattr(weights_mod, "MANIFEST", manifest)
    out = tmp_path / "out.mkv"
    code = main(["upscale", str(BIKES), "-o", str(out), "--model", "fsrcnn",
                 "--scale", "4", "--weights", "compressed", "--progress", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "no compressed weights shipped" in err[0], err
    assert not out.exists()
    assert weights_mod.get_spec("fsrcnn", 4, "clean").weights == "clean"


def test_batch_auto_picks_a_set_per_file(ev, tmp_path, capsys):
    """``vsr batch --dry-run`` shows the set ``auto`` chose for each file from its codec and rate."""
    src = tmp_path / "in"
    src.mkdir()
    frames = ev.read_hr(BIKES, 4, 2)[0]
    ev.write_lr(frames, 2, "lossless", 25, src / "master.mkv")
    ev.write_lr(frames, 2, "30", 25, src / "web.mkv")
    assert main(["batch", str(src), "-d", str(tmp_path / "out"), "--dry-run"]) == 0
    lines = {line.split(":")[0].rsplit("/", 1)[-1]: line for line in capsys.readouterr().out.splitlines()}
    want = "compressed" if "espcn" in COMPRESSED_X2 else "clean"
    assert lines["master.mkv"].endswith("[clean weights]"), lines
    assert lines["web.mkv"].endswith(f"[{want} weights]"), lines
