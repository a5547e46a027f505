"""vsr.media.probe on generated clips and on files that are not (whole) videos."""

from __future__ import annotations

from fractions import Fraction

import pytest
from PIL import Image

from media import write_clip, write_text, write_truncated
from vsr.errors import MediaError
from vsr.media.probe import count_frames, is_video, probe


def test_plain_clip(tmp_path):
    info = probe(write_clip(tmp_path / "a.mp4", 64, 48, frames=5))
    assert (info.width, info.height, info.display_size) == (64, 48, (64, 48))
    assert (info.frames, info.frames_exact, info.rotation) == (5, True, 0)
    assert info.duration == pytest.approx(5 / 25, abs=0.05)
    assert info.frame_rate == 25 and info.codec == "h264" and info.chroma == "4:2:0" and info.bit_depth == 8
    assert info.sample_aspect_ratio == 1 and not info.has_audio
    assert info.size_bytes == (tmp_path / "a.mp4").stat().st_size
    assert count_frames(tmp_path / "a.mp4") == 5


def test_rotation_and_pixel_aspect(tmp_path):
    r = probe(write_clip(tmp_path / "r.mp4", 64, 48, rotation=90))
    assert r.rotation in (90, 270) and r.display_size == (48, 64)
    s = probe(write_clip(tmp_path / "s.mp4", 64, 48, sar=Fraction(4, 3)))
    assert s.sample_aspect_ratio == Fraction(4, 3) and s.display_size == (85, 48)


def test_mkv_without_a_frame_count_estimates_it(tmp_path):
    info = probe(write_clip(tmp_path / "f.mkv", 48, 32, frames=6, codec="ffv1", pix_fmt="yuv444p"))
    assert not info.frames_exact and info.frames == 6 and info.chroma == "4:4:4"
    assert count_frames(tmp_path / "f.mkv") == 6


@pytest.mark.parametrize("make, why", [
    (lambda p: write_text(p / "x.mp4"), "cannot read as video"),
    (lambda p: write_truncated(p / "t.mp4"), "cannot read as video"),
    (lambda p: (p / "e.mkv").write_bytes(b"") and p / "e.mkv", "empty"),
])
def test_not_a_video(tmp_path, make, why):
    path = make(tmp_path) or tmp_path / "e.mkv"
    assert not is_video(path)
    with pytest.raises(MediaError, match=why):
        probe(path)


def test_images_are_not_videos(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "i.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "i.jpg")
    assert not is_video(tmp_path / "i.png") and not is_video(tmp_path / "i.jpg")
    clip = write_clip(tmp_path / "clip.mkv", 32, 32).rename(tmp_path / "no_suffix")
    assert is_video(clip)  # recognised by content, not by name
