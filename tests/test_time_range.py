"""Time ranges (--start/--end/--duration): the parser, frame counts, frame-exactness, A/V offset,
open GOPs, pipes, and ranges outside the input."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from media import packets, read_video
from vsr.config import TimeRange, parse_time, time_range
from vsr.errors import UsageError

AUDIO_FRAME = Fraction(1024, 48000)  # one AAC frame of the generated clips' audio


# --- parser -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [
    ("90", 90), ("1.5", Fraction(3, 2)), (".25", Fraction(1, 4)), ("5s", 5), ("250ms", Fraction(1, 4)),
    ("1500us", Fraction(3, 2000)), ("01:30", 90), ("1:02:03.04", 3723 + Fraction(1, 25)), ("0:00:00", 0),
    ("100:00:00", 360000), (" 2 ", 2),
])
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text,why", [
    ("-1", "negative"), ("abc", "expected seconds"), ("1:61", "below 60"), ("1:00:75", "below 60"),
    ("", "expected seconds"), ("1h", "expected seconds"), ("1.2.3", "expected seconds"),
])
def test_parse_time_refuses(text, why):
    with pytest.raises(UsageError, match=why):
        parse_time(text)


def test_time_range_builder():
    assert time_range() is None
    assert time_range("10", duration="5") == TimeRange(Fraction(10), Fraction(15))
    assert time_range(end="1:00") == TimeRange(None, Fraction(60))
    assert time_range(duration="2") == TimeRange(None, Fraction(2))
    assert time_range("0.5") == TimeRange(Fraction(1, 2), None)
    assert time_range(Fraction(1), 2.5) == TimeRange(Fraction(1), Fraction(5, 2))
    with pytest.raises(UsageError, match="not both"):
        time_range("1", "2", "3")
    with pytest.raises(UsageError, match="not after start"):
        time_range("20", "10")
    with pytest.raises(UsageError, match="not after start"):
        time_range("10", "10")
    with pytest.raises(UsageError, match="holds no time"):
        time_range("1", duration="0")
    with pytest.raises(UsageError, match="negative"):
        time_range(-1.0)


# --- frames and audio kept --------------------------------------------------------------------------

def _av_clip(make_clip, suffix: str):
    """H.264 with B-frames, 64x48, 50 frames at 25 fps (2 s), a keyframe every 10, AAC audio."""
    return make_clip(f"range_av.{suffix}", frames=50, audio=True, options={"g": "10", "bf": "2"},
                     container_format="mpegts" if suffix == "ts" else None)


def _start_time(path: Path) -> Fraction:
    import av

    with av.open(str(path)) as c:
        return Fraction(c.start_time or 0, av.time_base)


@pytest.mark.parametrize("suffix", ["mp4", "mkv", "ts"])
def test_start_end_frames_and_av_offset(make_clip, espcn_x2, tmp_path, suffix):
    from vsr.pipeline import upscale_video

    clip = _av_clip(make_clip, suffix)
    zero = _start_time(clip.path)
    start, end = Fraction(1, 2), Fraction(13, 10)
    src_times = [t - zero for t in clip.times]
    want = [t for t in src_times if start <= t < end]
    out = tmp_path / f"out.{suffix}"
    stats = upscale_video(clip.path, out, range=TimeRange(start, end), backend=espcn_x2)
    got = read_video(out)
    assert stats.frames == len(got.times) == len(want) == 20
    first_video = got.times[0]
    audio = packets(out, "audio")
    src_audio = [t - zero for t, _ in packets(clip.path, "audio") if t - zero >= start]
    assert len(audio) == sum(1 for t in src_audio if t < end)  # cut at packet boundaries
    offset = audio[0][0] - first_video
    assert abs(offset - (src_audio[0] - want[0])) < Fraction(1, 1000)  # the source's A/V offset, kept
    assert abs(offset) <= AUDIO_FRAME  # within one audio frame
    if suffix != "ts":  # timestamps start at zero, at --start (the TS muxer adds a delay of its own)
        assert abs(first_video - (want[0] - start)) < Fraction(1, 1000)
        assert 0 <= audio[0][0] < AUDIO_FRAME
