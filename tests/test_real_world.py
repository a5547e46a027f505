"""Inputs as cameras and other tools deliver them, generated tiny with PyAV, through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from media import read_video, write_video

VSR = [sys.executable, "-m", "vsr"]

# name -> (file name, write_video options)
CASES = {
    "y4m": ("clip.y4m", dict(codec="rawvideo", container_format="yuv4mpegpipe")),
    "annexb_h264": ("clip.h264", dict(container_format="h264")),
    "flv": ("clip.flv", dict(codec="flv")),
    "ffv1_411": ("clip411.mkv", dict(codec="ffv1", pix_fmt="yuv411p")),
    "ffv1_410": ("clip410.mkv", dict(codec="ffv1", pix_fmt="yuv410p")),
    "ffv1_420_12bit": ("clip12.mkv", dict(codec="ffv1", pix_fmt="yuv420p12le")),
    "spaces_unicode": ("a clip é 片.mkv", dict()),
    "leading_dash": ("-clip.mkv", dict()),
    "fps_240": ("fast.mkv", dict(rate=240)),
    "fps_half": ("slow.mkv", dict(rate=0.5)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_input_upscales_with_every_frame(case: str, tmp_path: Path) -> None:
    from fractions import Fraction

    name, spec = CASES[case]
    if "rate" in spec:
        spec = dict(spec, rate=Fraction(spec["rate"]))
    clip = write_video(tmp_path / name, frames=4, **spec)
    dst = tmp_path / "out" / "out.mkv"
    args = ["-o", str(dst), "--", clip.path.name] if case == "leading_dash" else [str(clip.path), "-o", str(dst)]
    r = subprocess.run(VSR + ["upscale", *args],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = read_video(dst)
    assert len(info.times) == clip.frames
    assert (info.width, info.height) == (2 * clip.size[0], 2 * clip.size[1])
    assert info.times == sorted(info.times)
