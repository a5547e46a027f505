"""tools/expect.py: the "What to expect" picture and figures from the shipped sample, measured by
tools/evaluate_video.py's protocol (H.264 CRF 30 LR)."""

from __future__ import annotations

import json

from PIL import Image


def test_expect_writes_picture_and_figures_that_match_evaluate_video(tmp_path):
    from tools import evaluate_video as ev
    from tools import expect
    from vsr.samples import sample_path

    out, js = tmp_path / "expect.png", tmp_path / "expect.json"
    figures = expect.main(["--frames", "4", "--out", str(out), "--json", str(js)])
    assert json.loads(js.read_text()) == figures
    assert figures["clip"] == "bikes.mp4" and figures["frames"] == 4 and figures["size"] == "640x272"
    assert set(figures["gains"]) == {"clean", "compressed"}
    for w, gain in figures["gains"].items():
        assert abs(figures["psnr"][w] - figures["bicubic_psnr"] - gain) < 0.002
    # the bicubic figure is evaluate_video's on the same clip, frames and CRF
    rows = ev.evaluate_clip(sample_path(), 2, 4, ["30"], ["espcn"], ["clean"], tmp_path, 4, "auto")
    assert abs(rows[0]["bicubic_psnr"] - figures["bicubic_psnr"]) < 0.002
    assert abs(rows[0]["gain"] - figures["gains"]["clean"]) < 0.002
    with Image.open(out) as im:  # thumbnail + 4 crops of 96 px zoomed 3x, with gaps and labels
        assert im.size == (8 + 5 * (288 + 8), 22 + 288 + 8)
    x, y, size = figures["crop"]
    assert size == 96 and 0 <= x <= 640 - 96 and 0 <= y <= 272 - 96
