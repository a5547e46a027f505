"""Hard timestamps through ``vsr upscale``, compared with what FFmpeg's libraries read:
DivX/Xvid AVIs with packed B-frames, H.264 with B-frames in AVI, MPEG-TS recordings joined byte-wise, an MP4 edit list
that starts mid-GOP; and the encoder side: ``hvc1``, quiet library banners, encoder options
checked as FFmpeg checks them.

Media come from tests/media_timing.py (what each file holds is described there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import av.bitstream
import numpy as np
import pytest

from media import read_video, write_video
from media_containers import Track, first_times, write_media
from media_timing import VOP, write_edit_list_mp4, write_joined_ts, write_packed_avi

VSR = [sys.executable, "-m", "vsr", "upscale", "--progress", "none"]


def run(src: Path, dst: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    return subprocess.run(VSR + [str(src), "-o", str(dst), *args], capture_output=True, text=True, timeout=300,
                          env=env)


def ok(src: Path, dst: Path, *args: str) -> str:
    r = run(src, dst, *args)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def lumas(path: Path) -> list[np.ndarray]:
    """Luma of every decoded frame (PyAV), as float."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.float64) for f in c.decode(video=0)]


def assert_same_pictures(src: Path, dst: Path) -> None:
    """The output shows the input's pictures in the input's order (each upscaled frame,
    averaged back down 2x, is nearest to the input frame at the same place)."""
    a, b = lumas(src), lumas(dst)
    assert len(a) == len(b)
    for k, big in enumerate(b):
        small = big.reshape(big.shape[0] // 2, 2, big.shape[1] // 2, 2).mean(axis=(1, 3))
        err = [np.abs(small - x).mean() for x in a]
        assert int(np.argmin(err)) == k, (k, err)


def increasing(times) -> bool:
    return all(y > x for x, y in zip(times, times[1:]))


# --- packed B-frames in AVI -----------------------------------------------------------------


def test_generated_avi_has_packed_b_frames_that_ffmpeg_unpacks(tmp_path: Path) -> None:
    src = tmp_path / "xvid.avi"
    coded = write_packed_avi(src)
    with av.open(str(src)) as c:
        s = c.streams.video[0]
        chunks = [bytes(p) for p in c.demux(s) if p.size]
        unpack = av.bitstream.BitStreamFilterContext("mpeg4_unpack_bframes", s)
        with av.open(str(src)) as c2:
            unpacked = [bytes(q) for p in c2.demux(c2.streams.video[0]) for q in unpack.filter(p if p.size else None)]
    assert b"DivX503b1393p" in chunks[0]
    assert sum(ch.count(VOP) == 2 for ch in chunks) == 4  # P+B chunks: I P B B P B B P B B P B
    assert sum(len(ch) <= 8 for ch in chunks) == 4  # N-VOPs
    # the filter gives back the encoder's own packets; in the first, only the user data's
    # "packed" flag differs (the filter blanks it)
    assert unpacked[1:] == coded[1:]
    flag = chunks[0].index(b"1393p") + 4
    assert unpacked[0][:flag] + unpacked[0][flag + 1:] == chunks[0][:flag] + chunks[0][flag + 1:]
    assert unpacked[0][flag:flag + 1] != b"p" and chunks[0].replace(b"\x00\x00\x01\xb2DivX503b1393p", b"") == coded[0]
    assert len(lumas(src)) == 12  # what FFmpeg decodes


def write_h264_avi(path: Path, audio: str) -> None:
    """H.264 with B-frames (x264's pyramid: two frames of reordering delay) in AVI, 12 frames."""
    write_media(path, frames=12, size=(64, 48), options={"bf": "3", "x264-params": "b-adapt=0:b-pyramid=normal"},
                audio=[Track({"mp3": "libmp3lame"}.get(audio, audio), layout="stereo")])
    with av.open(str(path)) as c:
        kinds = [av.video.frame.PictureType(f.pict_type).name for f in c.decode(video=0)]
    assert "B" in kinds and len(kinds) == 12


@pytest.mark.parametrize("source", ["xvid", "h264"])
@pytest.mark.parametrize("suffix, audio", [("mkv", "ac3"), ("mp4", "mp3"), ("avi", "ac3")])
def test_b_frame_avi_upscales_to_any_container(source: str, suffix: str, audio: str, tmp_path: Path) -> None:
    """Packed MPEG-4 B-frames and H.264 B-frames in AVI, whose presentation times the parser
    guesses: every frame kept, in display order, evenly timed."""
    src = tmp_path / f"{source}.avi"
    if source == "xvid":
        write_packed_avi(src, audio=audio)
    else:
        write_h264_avi(src, audio)
    dst = tmp_path / f"out.{suffix}"
    ok(src, dst)
    times = read_video(dst).times
    assert len(times) == 12
    if suffix != "avi":  # an AVI's presentation times read back are its parser's guesses
        assert {b - a for a, b in zip(times, times[1:])} == {Fraction(1, 25)}
        # the decoder's reordering delay as FFmpeg's demuxer states it (a frame or two)
        assert first_times(dst)["audio"] <= first_times(dst)["video"] <= Fraction(3, 25)
    assert_same_pictures(src, dst)


@pytest.mark.parametrize("codec, fmt", [("libx264", "h264"), ("mpeg4", "m4v")])
def test_raw_streams_without_timestamps_get_generated_ones(codec: str, fmt: str, tmp_path: Path) -> None:
    src = tmp_path / f"raw.{fmt}"  # elementary streams: no container, no timestamps at all
    write_video(src, frames=8, codec=codec, options={"bf": "2"}, container_format=fmt)
    dst = tmp_path / "out.mkv"
    ok(src, dst, "--codec", "ffv1")
    assert read_video(dst).times == [Fraction(k, 25) for k in range(8)]
    assert_same_pictures(src, dst)


# --- joined MPEG-TS ---------------------------------------------------------------------------


def test_joined_ts_with_a_timestamp_reset_plays_both_parts_in_order(tmp_path: Path) -> None:
    src = tmp_path / "joined.ts"
    write_joined_ts(src)
    dst = tmp_path / "out.mkv"
    err = ok(src, dst, "--codec", "ffv1")
    assert err.count("timestamps reset") == 1
    times = read_video(dst).times
    assert len(times) == 18 and increasing(times)
    # the second part follows the first: no more than one audio frame's gap, no overlap
    steps = [b - a for a, b in zip(times, times[1:])]
    assert max(steps) < Fraction(1, 25) + Fraction(1024, 48000) * 5
    assert_same_pictures(src, dst)
    with av.open(str(dst)) as c:
        audio = [p.pts * p.time_base for p in c.demux(audio=0) if p.pts is not None]
    assert increasing(audio) and audio[-1] > times[-1] - Fraction(1, 5)


@pytest.mark.parametrize("suffix", ["mkv", "mp4"])
def test_copied_audio_that_steps_back_is_repaired_with_one_warning(suffix: str, tmp_path: Path) -> None:
    src = tmp_path / "overlap.ts"
    write_joined_ts(src, second_at=Fraction(45, 100))  # 20 ms of sound overlap at the join
    dst = tmp_path / f"out.{suffix}"
    err = ok(src, dst)
    assert err.count("timestamps step back") == 1, err  # once, for the audio stream
    assert len(read_video(dst).times) == 18
    with av.open(str(dst)) as c:
        dts = [p.dts for p in c.demux(audio=0) if p.dts is not None]
    assert all(b >= a for a, b in zip(dts, dts[1:]))


# --- edit lists -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["mkv", "mp4", "mov"])
def test_mid_gop_edit_list_starts_picture_and_sound_together(suffix: str, tmp_path: Path) -> None:
    src = tmp_path / "cut.mp4"
    write_edit_list_mp4(src)
    shown = read_video(src).times
    assert len(shown) == 12 and shown[0] == 0  # FFmpeg shows the frames from the edit on
    dst = tmp_path / f"out.{suffix}"
    ok(src, dst, "--codec", "ffv1" if suffix == "mkv" else "libx264")
    times = read_video(dst).times
    assert len(times) == 12
    with av.open(str(dst)) as c:
        heard = next(f.time for f in c.decode(audio=0))  # after the output's own edit list, if any
    # the sound that the edit list hid is not played: the last AAC packet before the edit is
    # kept (the decoder's priming): MP4 hides it again, Matroska plays its 29 ms (not 520 ms)
    lead = times[0] - Fraction(heard).limit_denominator(48000)
    assert 0 <= lead <= (Fraction(1, 1000) if suffix != "mkv" else Fraction(3, 100)), lead
    assert times[0] <= Fraction(3, 100)


# --- encoders -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("enc") / "in.mkv", frames=3, options={"preset": "ultrafast"}).path


@pytest.mark.parametrize("suffix", ["mp4", "mov"])
def test_hevc_in_mp4_and_mov_is_tagged_hvc1_and_x265_is_quiet(suffix: str, clip: Path, tmp_path: Path) -> None:
    dst = tmp_path / f"out.{suffix}"
    err = ok(clip, dst, "--codec", "libx265")
    assert err.strip().count("\n") == 0, err  # the summary line only: no x265 banner
    with av.open(str(dst)) as c:
        assert c.streams.video[0].codec_context.codec_tag == "hvc1"
    assert len(read_video(dst).times) == 3


def test_svt_av1_banner_only_with_verbose(clip: Path, tmp_path: Path) -> None:
    err = ok(clip, tmp_path / "out.mkv", "--codec", "libsvtav1")
    assert "Svt[" not in err and err.strip().count("\n") == 0, err
    r = subprocess.run([sys.executable, "-m", "vsr", "-v", "upscale", "--progress", "none", str(clip), "-o",
                        str(tmp_path / "v.mkv"), "--codec", "libsvtav1"], capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != "SVT_LOG"})
    assert r.returncode == 0 and "Svt[info]" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["-e", "foo=bar"], "-e foo=bar: the libx264 encoder has no option 'foo'"),
    (["-e", "presett=slow"], "did you mean 'preset'?"),
    (["--preset", "slowx"], "--preset slowx: libx264 has no such preset; use one of ultrafast"),
    (["-e", "preset=slowx"], "-e preset=slowx: libx264 has no preset 'slowx'; choose one of ultrafast"),
    (["-e", "tune=flim"], "-e tune=flim: libx264 has no tune 'flim'"),
    (["--codec", "ffv1", "--crf", "20"], "--crf 20: the ffv1 encoder has no constant-quality setting"),
    (["--codec", "libsvtav1", "--preset", "99"], "the libsvtav1 encoder refused its settings (--preset 99)"),
])
def test_encoder_options_are_checked_in_one_line(args: list[str], message: str, clip: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    r = run(clip, dst, *args)
    assert r.returncode in (1, 2)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsr: error: ") and message in lines[0], r.stderr
    assert "{" not in lines[0] and "returned" not in lines[0] and "avcodec" not in lines[0]
    assert list(tmp_path.iterdir()) == []  # no output, no partial


def test_encoder_options_the_encoder_takes_are_used(clip: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    ok(clip, dst, "-e", "tune=film", "-e", "g=2", "--preset", "veryfast")
    with av.open(str(dst)) as c:
        keys = [p.is_keyframe for p in c.demux(video=0) if p.size]
    assert keys == [True, False, True]  # g=2 reached x264
