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
    ("-1", "negative"), ("abc", "not a time: give seconds"), ("1:61", "below 60"), ("1:00:75", "below 60"),
    ("", "not a time"), ("1h", "not a time"), ("1.2.3", "not a time"),
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
    with pytest.raises(UsageError, match="^--start -1 s is negative"):
        time_range(-1.0)
    with pytest.raises(UsageError, match="^--end 'x' is not a time"):
        time_range("1", "x")


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
    stats = upscale_video(clip.path, out, range=TimeRange(start, end), loaded=espcn_x2)
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


# --- frame-exact: the frames kept are those of a whole run ----------------------------------------

def _whole_run(path: Path, tmp_path: Path, espcn_x2):
    """Every frame of an FFV1 upscale of the whole input, with its time from the input's start."""
    from vsr.pipeline import upscale_video

    out = tmp_path / f"whole_{path.stem}.mkv"
    if not out.exists():
        upscale_video(path, out, loaded=espcn_x2, codec="ffv1")
    return read_video(out)


def _check_exact(clip, tmp_path: Path, espcn_x2, start: Fraction | None, end: Fraction | None) -> int:
    """Upscale ``clip`` with a range: its frames are pixel-equal to the same frames of a whole run,
    at the source's times less the start; returns how many were kept."""
    from vsr.pipeline import upscale_video

    whole = _whole_run(clip.path, tmp_path, espcn_x2)
    zero = _start_time(clip.path)
    times = [t - zero for t in read_video(clip.path).times]  # from the input's start, as -ss counts
    keep = [i for i, t in enumerate(times) if (start is None or t >= start) and (end is None or t < end)]
    out = tmp_path / f"part_{clip.path.stem}_{float(start or 0)}_{float(end or 0)}.mkv"
    upscale_video(clip.path, out, range=TimeRange(start, end), loaded=espcn_x2, codec="ffv1")
    part = read_video(out)
    assert len(part.times) == len(keep) > 0
    for j, i in enumerate(keep):
        for a, b in zip(part.planes[j], whole.planes[i]):
            assert (a == b).all(), f"frame {i} of the whole run differs from frame {j} of the range"
    if start is not None:  # MKV's 1 ms clock; output times from zero at --start
        assert all(abs(part.times[j] - (times[i] - start)) <= Fraction(1, 1000) for j, i in enumerate(keep))
    return len(keep)


@pytest.mark.parametrize("suffix", ["mp4", "mkv", "ts"])
def test_range_is_frame_exact(make_clip, espcn_x2, tmp_path, suffix):
    clip = _av_clip(make_clip, suffix)
    # mid-GOP start and end (keyframes every 10 frames, 0.4 s), then an end only, then a start only
    assert _check_exact(clip, tmp_path, espcn_x2, Fraction(55, 100), Fraction(129, 100)) in (18, 19)
    assert _check_exact(clip, tmp_path, espcn_x2, None, Fraction(1, 2)) in (12, 13)
    assert _check_exact(clip, tmp_path, espcn_x2, Fraction(17, 10), None) in (7, 8)


@pytest.mark.parametrize("codec,options,fmt", [
    ("mpeg2video", {"g": "12", "bf": "2", "qscale": "4"}, "mpegts"),  # MPEG-2 GOPs are open unless +cgop
    ("libx264", {"g": "12", "bf": "2", "x264-params": "open-gop=1:keyint-min=12:scenecut=0"}, "mp4"),
    ("libx264", {"g": "12", "bf": "2", "x264-params": "open-gop=1:keyint-min=12:scenecut=0"}, "matroska"),
])
def test_open_gop_start_mid_gop(make_clip, espcn_x2, tmp_path, codec, options, fmt):
    """Starting on a GOP's leading B-frames (decoded after its I-frame, from the previous GOP):
    they come out exactly as in a whole run."""
    clip = make_clip(f"open_gop_{codec}.{ {'mpegts': 'ts', 'matroska': 'mkv'}.get(fmt, fmt)}", codec=codec, frames=40,
                     size=(64, 48), options=options, container_format=fmt)
    zero = _start_time(clip.path)
    times = [t - zero for t in clip.times]
    for first in (10, 11, 12, 23):  # leading frames of the GOP at 12, its I-frame, the next GOP's
        start = (times[first] + times[first - 1]) / 2  # between two frames: the later one is the first kept
        assert _check_exact(clip, tmp_path, espcn_x2, start, start + Fraction(1, 2)) == 12


@pytest.mark.parametrize("codec, options", [
    ("libx264", {"g": "10", "sc_threshold": "0", "bf": "3", "x264-params": "b-pyramid=normal"}),
    ("mpeg4", {"g": "9", "bf": "2"}),  # open GOPs: keyframes shown after their leading B-frames
])
def test_avi_with_b_frames_is_cut_on_the_decoders_clock(make_clip, espcn_x2, tmp_path, codec, options):
    """AVI video is timed by decode order: H.264 with a B-pyramid two frames late, where the
    parser guesses one (a start on the frame before a keyframe passed the seek check at the
    keyframe and lost that frame); MPEG-4's open GOPs later still, as its parser sees. A range
    starting on every frame keeps exactly the whole run's frames."""
    from vsr.pipeline import upscale_video

    clip = make_clip(f"b_frames_{codec}.avi", codec=codec, frames=40, size=(64, 48), options=options)
    whole = _whole_run(clip.path, tmp_path, espcn_x2)
    assert len(whole.times) == 40
    for first in range(1, 30):
        start = whole.times[first]  # exactly a frame's time: that frame is the first kept
        out = tmp_path / f"part_{first}.mkv"
        upscale_video(clip.path, out, range=TimeRange(start, start + Fraction(2, 5)), loaded=espcn_x2, codec="ffv1")
        part = read_video(out)
        assert len(part.times) == 10, first
        for j, (planes, t) in enumerate(zip(part.planes, part.times)):
            assert all((a == b).all() for a, b in zip(planes, whole.planes[first + j])), (first, j)
            assert t == whole.times[first + j] - start


# --- pipes, progress, ranges outside the input ------------------------------------------------------

VSR = [sys.executable, "-m", "vsr"]


def test_pipe_input_reads_and_drops(make_clip, espcn_x2, tmp_path):
    """stdin cannot seek: read from the beginning, drop; the same frames as from the file."""
    from vsr.pipeline import upscale_video

    clip = _av_clip(make_clip, "ts")
    rng = ["--start", "0.5", "--end", "00:01.3"]
    piped = tmp_path / "piped.mkv"
    r = subprocess.run(VSR + ["upscale", "-", "-o", str(piped), "--backend", "onnxruntime", "--codec", "ffv1",
                              "--weights", "clean", "--progress", "none", *rng], input=clip.path.read_bytes(), capture_output=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    seeked = tmp_path / "seeked.mkv"
    upscale_video(clip.path, seeked, range=time_range("0.5", "00:01.3"), loaded=espcn_x2, codec="ffv1")
    a, b = read_video(piped), read_video(seeked)
    assert len(a.times) == len(b.times) in (19, 20)
    assert a.times == b.times
    assert all((x == y).all() for pa, pb in zip(a.planes, b.planes) for x, y in zip(pa, pb))
    assert packets(piped, "audio") == packets(seeked, "audio")


def test_progress_total_is_the_ranges_frame_count(gop_mp4, tmp_path, capsys):
    import json

    from vsr.cli import main

    dst = tmp_path / "out.mkv"
    code = main(["upscale", str(gop_mp4.path), "-o", str(dst), "--progress", "json", "--backend", "onnxruntime",
                 "--codec", "ffv1", "--start", "0.2", "--duration", "0.6"])  # 25 fps: frames 5 to 19
    captured = capsys.readouterr()
    assert code == 0, captured.err
    reports = [json.loads(x) for x in captured.out.strip().splitlines()]
    assert {r["total"] for r in reports} == {15}
    assert reports[-1]["frame"] == 15 and len(read_video(dst).times) == 15


@pytest.mark.parametrize("args,says", [
    (["--start", "10"], "--start 10 s is past the end of the input (1.2 s long)"),
    (["--start", "1.19"], "--start 1.19 s is past the end of the input (its last frame is at 1.16 s)"),
    (["--start", "0.21", "--end", "0.23"], "the range 0.21 s-0.23 s holds no video frame"),
    (["--start", "2", "--end", "1"], "is not after start"),
    (["--end", "1", "--duration", "1"], "not both"),
    (["--start", "1:75"], "--start '1:75': minutes and seconds must be below 60"),
    (["--duration", "-2"], "--duration '-2' is negative"),
])
def test_range_outside_the_input_fails_in_one_line(gop_mp4, tmp_path, capsys, args, says):
    from vsr.cli import main

    out = tmp_path / "out"
    out.mkdir()
    code = main(["upscale", str(gop_mp4.path), "-o", str(out / "x.mkv"), "--progress", "none",
                 "--backend", "onnxruntime", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and says in err[0], err
    assert "Error" not in err[0] and "Traceback" not in err[0]
    assert list(out.iterdir()) == []  # nothing written, not even a partial


def test_pipe_range_past_the_end_fails_in_one_line(make_clip, tmp_path):
    clip = _av_clip(make_clip, "ts")
    r = subprocess.run(VSR + ["upscale", "-", "-o", str(tmp_path / "x.mkv"), "--backend", "onnxruntime",
                              "--progress", "none", "--start", "30"], input=clip.path.read_bytes(),
                       capture_output=True, timeout=300)
    lines = r.stderr.decode().strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "stdin" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


# --- vsr batch ---------------------------------------------------------------------------------------

def test_batch_range_every_file_journaled_with_its_range(make_clip, tmp_path, capsys):
    import json

    from vsr.batch import upscale_batch
    from vsr.batch.state import JOURNAL_NAME
    from vsr.cli import main

    src = tmp_path / "in"
    src.mkdir()
    for stem, suffix in (("a", "mp4"), ("b", "mkv")):
        (src / f"{stem}.{suffix}").write_bytes(_av_clip(make_clip, suffix).path.read_bytes())
    out = tmp_path / "out"
    fast = ["--codec", "ffv1", "--container", "mkv", "--backend", "onnxruntime"]
    assert main(["batch", str(src), "-d", str(out), *fast, "--start", "0.5", "--end", "1.3", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    import re

    assert len(re.findall(r", 20 of 5\d frames", plan)) == 2 and plan.count("0.5 s-1.3 s]") == 2
    assert main(["batch", str(src), "-d", str(out), *fast, "--start", "0.5", "--end", "1.3",
                 "--progress", "json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    progress = [x for x in lines if x["event"] == "progress"]
    assert progress and {x["total"] for x in progress} == {20}  # progress counts the range's frames
    assert [x["frames"] for x in lines if x["event"] == "file"] == [20, 20]
    outputs = sorted(p for p in out.rglob("*.mkv"))
    assert len(outputs) == 2 and all(len(read_video(p).times) == 20 for p in outputs)
    done = [json.loads(x) for x in (out / JOURNAL_NAME).read_text().splitlines()]
    assert sorted(r["range"] for r in done if r["event"] == "done") == ["0.5 s-1.3 s"] * 2
    # the same range again: done (journal); another range: not taken for done
    again = upscale_batch([src], out, range=TimeRange(Fraction(1, 2), Fraction(13, 10)), codec="ffv1",
                          container="mkv", backend="onnxruntime")
    assert [r.status for r in again] == ["skipped"] * 2 and all("journal" in r.reason for r in again)
    other = upscale_batch([src], out, range=TimeRange(Fraction(1, 2), Fraction(1)), codec="ffv1",
                          container="mkv", backend="onnxruntime")
    assert [r.status for r in other] == ["failed"] * 2
    assert all("made from the time range 0.5 s-1.3 s" in r.reason for r in other)
    redo = upscale_batch([src], out, range=TimeRange(Fraction(1, 2), Fraction(1)), codec="ffv1",
                         container="mkv", backend="onnxruntime", overwrite=True)
    assert [r.status for r in redo] == ["done"] * 2 and [r.frames for r in redo] == [12, 12]


def test_batch_copy_at_target_refuses_a_range(make_clip, tmp_path, capsys):
    """A file already at --target is copied whole: with a range it copied 241 frames for 0.3 s
    asked. Now a usage error before anything is written; skip still goes with a range."""
    from vsr.batch import upscale_batch
    from vsr.cli import main

    clip = make_clip("big.mp4", size=(64, 48), frames=10)
    out = tmp_path / "out"
    args = ["batch", str(clip.path), "-d", str(out), "--target", "32x24", "--duration", "0.2"]
    assert main([*args, "--at-target", "copy"]) == 2
    assert capsys.readouterr().err.strip() == ("vsr: error: --at-target copy copies whole files, not a --start/--end/"
                                               "--duration range; use --at-target skip, or no range")
    with pytest.raises(UsageError):
        upscale_batch([clip.path], out, target="32x24", at_target="copy", range=time_range(None, None, "0.2"))
    assert not out.exists()
    assert main([*args, "--progress", "none"]) == 0 and not list(out.rglob("*.mp4"))  # skipped


# --- subtitles, chapters, timecode, re-encoded audio ---------------------------------------------

def test_subtitles_and_chapters_follow_the_range(make_clip, espcn_x2, tmp_path):
    from media import chapters
    from vsr.pipeline import upscale_video

    clip = make_clip("range_subs.mkv", codec="ffv1", frames=50, audio=True,
                     subtitles=[(0, 300, "before"), (400, 500, "across the start"), (1000, 200, "inside"),
                                (1250, 400, "across the end"), (1500, 100, "after")],
                     chapters=[(0, 500, "One"), (500, 1100, "Two"), (1100, 2000, "Three")])
    out = tmp_path / "out.mkv"
    upscale_video(clip.path, out, range=TimeRange(Fraction(6, 10), Fraction(14, 10)), loaded=espcn_x2,
                  codec="ffv1")
    subs = [(t, bytes(p).decode()) for t, p in packets(out, "subtitle")]
    # shown during the range: kept, from the range's start (the one shown across it starts at zero)
    assert subs == [(0, "across the start"), (Fraction(4, 10), "inside"), (Fraction(65, 100), "across the end")]
    assert chapters(out) == [(0, Fraction(1, 2), "Two"), (Fraction(1, 2), Fraction(4, 5), "Three")]


def test_timecode_moves_to_the_first_frame_kept(make_clip, espcn_x2, tmp_path):
    from vsr.media.probe import probe  # noqa: F401 - the timecode is read as the encoder reads it
    from vsr.media.decode import open_input
    from vsr.media.streams import source_timecode
    from vsr.pipeline import upscale_video

    clip = make_clip("range_tc.mov", frames=50, video_metadata={"timecode": "01:00:00:00"})
    out = tmp_path / "out.mov"
    upscale_video(clip.path, out, range=TimeRange(Fraction(1, 2), None), loaded=espcn_x2)
    with open_input(out) as c:
        assert source_timecode(c, c.streams.video[0]) == "01:00:00:13"  # frame 13 (0.52 s) is the first


@pytest.mark.parametrize("name, spec, out_name", [
    ("clip.wmv", dict(codec="wmv2", audio=("wmav2", 44100)), "out.mkv"),
    # PCM in MKV to MP4, which holds no PCM (ISO 'ipcm' aside): re-encoded too
    ("pcm.mkv", dict(codec="libx264", audio=("pcm_s16le", 48000)), "out.mp4"),
])
def test_reencoded_audio_is_cut_too(tmp_path, espcn_x2, name, spec, out_name):
    """WMA in ASF to MKV, PCM in MKV to MP4 (re-encoded to AAC), in a file whose timeline starts
    at 1 s: cut to the sample."""
    import av

    from media_containers import Track, write_media
    from vsr.pipeline import upscale_video

    (codec, rate) = spec["audio"]
    if not {spec["codec"], codec} <= av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {spec['codec']}/{codec} encoder to make the input")
    src = tmp_path / name
    write_media(src, codec=spec["codec"], frames=50, start=1.0, audio=[Track(codec, layout="stereo", rate=rate)])
    out = tmp_path / out_name
    upscale_video(src, out, range=TimeRange(Fraction(1, 2), Fraction(13, 10)), loaded=espcn_x2)
    video = read_video(out).times
    assert len(video) == 20
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        frames = list(c.decode(audio=0))
    first = frames[0].pts * frames[0].time_base
    end = frames[-1].pts * frames[-1].time_base + Fraction(frames[-1].samples, frames[-1].sample_rate)
    # decoded (primed with the packets before the start), the sound is cut to the sample: it starts
    # at the range's start, ends at its end (plus the AAC encoder's padding of its last frame)
    assert first == 0 and sum(f.samples for f in frames) >= Fraction(8, 10) * rate
    assert Fraction(8, 10) <= end < Fraction(8, 10) + Fraction(1024, rate)


def test_a_file_is_seeked_not_decoded_from_the_start(make_clip):
    """A range near the end of a file decodes from the keyframe before it, not from frame 0."""
    from vsr.media.decode import Decoder

    clip = make_clip("range_long.mkv", size=(32, 32), frames=250, audio=True, options={"g": "25", "bf": "2"})
    d = Decoder(clip.path, time_range=TimeRange(Fraction(9), Fraction(19, 2)))
    try:
        times = [f.pts * f.time_base for f in d.frames()]
    finally:
        d.close()
    assert len(times) == 13 and times[0] == 0
    assert d.stats.decoded <= 25 + 13 + 3  # at most one GOP before the start, then the range (+ reordering)


def test_a_raw_stream_that_cannot_seek_is_read_from_the_start(make_clip, espcn_x2, tmp_path):
    """A raw H.264 stream (no container, no timestamps, no seeking): opened again after the
    failed seek, read and dropped, frame-exact all the same."""
    clip = make_clip("range_raw.h264", frames=50, options={"g": "10", "bf": "2"}, container_format="h264")
    whole = _whole_run(clip.path, tmp_path, espcn_x2)
    from vsr.pipeline import upscale_video

    out = tmp_path / "part.mkv"
    upscale_video(clip.path, out, range=TimeRange(Fraction(1, 2), Fraction(13, 10)), loaded=espcn_x2, codec="ffv1")
    part = read_video(out)
    keep = [i for i, t in enumerate(whole.times) if Fraction(1, 2) <= t - whole.times[0] < Fraction(13, 10)]
    assert len(part.times) == len(keep) == 20
    assert all((a == b).all() for j, i in enumerate(keep) for a, b in zip(part.planes[j], whole.planes[i]))


def test_http_file_with_a_range(make_clip, espcn_x2, tmp_path):
    """An HTTP URL with a known duration is entered like a file (seeked where the server and
    FFmpeg's buffer allow, else opened again and read): the same frames and packets as the file."""
    from servers import serve_folder
    from vsr.pipeline import upscale_video

    clip = _av_clip(make_clip, "ts")
    rng = TimeRange(Fraction(1, 2), Fraction(13, 10))
    requests: list = []
    with serve_folder(clip.path.parent, requests) as url:
        upscale_video(f"{url}/{clip.path.name}", tmp_path / "http.mkv", range=rng, loaded=espcn_x2, codec="ffv1")
    upscale_video(clip.path, tmp_path / "file.mkv", range=rng, loaded=espcn_x2, codec="ffv1")
    a, b = read_video(tmp_path / "http.mkv"), read_video(tmp_path / "file.mkv")
    assert a.times == b.times and len(a.times) in (19, 20)
    assert all((x == y).all() for pa, pb in zip(a.planes, b.planes) for x, y in zip(pa, pb))
    assert packets(tmp_path / "http.mkv", "audio") == packets(tmp_path / "file.mkv", "audio")


@pytest.mark.parametrize("name", ["bbb_2500ms.ts", "bigbuckbunny.mp4", "chaplin.mp4"])
def test_real_clips_are_cut_frame_exact(shared_data, name):
    """Real clips (MPEG-2 + MP2 in MPEG-TS, H.264 + AAC and H.264 + MP3 in MP4): the middle fifth of each,
    seeked, equals the same frames of a decode from the start; the audio packets kept are the
    source's that start in the range."""
    import av

    from vsr.media.decode import Decoder

    path = shared_data / "video" / name
    with av.open(str(path)) as c:
        duration, zero = Fraction(c.duration, av.time_base), _start_time(path)
    start, end = duration * 2 / 5, duration * 3 / 5
    whole = Decoder(path)
    try:
        ref = [(f.pts * f.time_base - zero - start, f.planes) for f in whole.frames()
               if start <= f.pts * f.time_base - zero < end]
    finally:
        whole.close()
    audio: list[Fraction] = []  # output times of the audio packets passed on (not the Prerolls)

    def keep(p) -> None:  # read while the input is open (a packet's stream dies with it)
        if isinstance(p, av.Packet) and p.stream.type == "audio":
            audio.append(p.pts * p.time_base)

    part = Decoder(path, time_range=TimeRange(start, end))
    try:
        got = [(f.pts * f.time_base, f.planes) for f in part.frames(packets=keep)]
    finally:
        part.close()
    assert len(got) == len(ref) > 0
    assert all(abs(a[0] - b[0]) < Fraction(1, 1000) for a, b in zip(got, ref))
    assert all((x == y).all() for a, b in zip(got, ref) for x, y in zip(a[1], b[1]))
    assert part.stats.decoded < whole.stats.decoded  # seeked, not decoded from the start
    src_audio = [t - zero for t, _ in packets(path, "audio") if start <= t - zero < end]
    assert len(audio) == len(src_audio) > 0
    assert abs(audio[0] - (src_audio[0] - start)) < Fraction(1, 1000) and 0 <= audio[0] < Fraction(1, 10)


def test_variable_frame_rate_is_cut_by_timestamps(vfr_mp4, espcn_x2, tmp_path):
    """Frames at 0, 40, 73, 120, 200, 210, 260, 330 ms: kept by their own times, never a rate."""
    assert _check_exact(vfr_mp4, tmp_path, espcn_x2, Fraction(5, 100), Fraction(25, 100)) == 4  # 73 to 210 ms
    assert _check_exact(vfr_mp4, tmp_path, espcn_x2, Fraction(21, 100), None) == 3  # a frame at the start is kept


def _write_interlaced(path: Path, frames: int = 30) -> Path:
    """H.264 coded interlaced, 64x64 at 25 fps, whose two fields are pictures of different
    instants (as a camera's): a deinterlacer's result depends on the neighbouring frames."""
    import av
    import numpy as np

    from media import picture

    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=25)
    v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
    v.codec_context.options = {"flags": "+ildct+ilme", "g": "10", "crf": "10"}
    for i in range(frames):
        y = picture(64, 64, 3 * i)[0]
        y[1::2] = picture(64, 64, 3 * i + 2)[0][1::2]  # the bottom field, later
        data = np.concatenate([(y * 219 + 16).astype(np.uint8).ravel(), np.full(2 * 32 * 32, 128, np.uint8)])
        f = av.VideoFrame.from_ndarray(data.reshape(96, 64), format="yuv420p")
        f.pts, f.time_base = i, Fraction(1, 25)
        out.mux(v.encode(f))
    out.mux(v.encode(None))
    out.close()
    return path


def test_interlaced_range_is_deinterlaced_as_in_a_whole_run(espcn_x2, tmp_path):
    """bwdif looks at the previous frame: a range starting right on a keyframe is decoded from
    an earlier one, so its first frame equals the whole run's too."""
    import av

    from vsr.media.decode import Decoder

    path = _write_interlaced(tmp_path / "interlaced.mkv")
    with av.open(str(path)) as c:
        keys = [p.pts * p.time_base for p in c.demux(video=0) if p.is_keyframe and p.pts]
    whole = Decoder(path)
    try:
        ref = {f.pts * f.time_base: f.planes for f in whole.frames()}
    finally:
        whole.close()
    assert whole.deinterlace == "auto"  # it did deinterlace
    for start in keys[:2] + [keys[0] + Fraction(2, 25)]:  # on keyframes, then after one
        part = Decoder(path, time_range=TimeRange(start, start + Fraction(1, 5)))
        try:
            got = [(f.pts * f.time_base + start, f.planes) for f in part.frames()]
        finally:
            part.close()
        assert len(got) == 5
        assert all((x == y).all() for t, planes in got for x, y in zip(planes, ref[t])), f"start {start}"
