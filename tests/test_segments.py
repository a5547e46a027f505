"""Segmented runs (vsr.segments): keyframe plans, parts and their journal, the join, resume.

Every clip is generated here, small (32x24 to 64x48, tens of frames), with short GOPs so a
plan has several cut points.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from media import chapters, packets, write_video
from vsr.errors import MediaError, UsageError
from vsr.pipeline import upscale_video
from vsr.segments import parse_count, plan_segments, upscale_segmented
from vsr.segments.work import WorkDir


def _frames(path: Path) -> list[tuple[int, bytes]]:
    """``(pts, picture bytes)`` of every decoded frame (PyAV directly, not vsr)."""
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray().tobytes()) for f in c.decode(video=0)]


def _video_packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as c:
        return [p for p in c.demux(video=0) if p.size]


@pytest.fixture(scope="module")
def gop_mkv(tmp_path_factory) -> Path:
    """H.264 (no B-frames) MKV, 32x24, 40 frames, a keyframe every 10, AAC audio, subtitles, chapters."""
    path = tmp_path_factory.mktemp("seg") / "gop.mkv"
    write_video(path, size=(32, 24), frames=40, options={"g": "10", "keyint_min": "10", "sc_threshold": "0", "bf": "0"},
                audio=True, subtitles=[(0, 300, "one"), (900, 300, "two")], chapters=[(0, 800, "A"), (800, 1600, "B")])
    return path


def test_plan_cuts_at_source_keyframes(gop_mkv: Path) -> None:
    plan = plan_segments(gop_mkv, 4)
    keys = [p.pts for p in _video_packets(gop_mkv) if p.is_keyframe]
    assert [s.start_pts for s in plan.segments] == keys[:4] == [0, 400, 800, 1200]
    assert [s.frames for s in plan.segments] == [10, 10, 10, 10] and plan.frames == 40
    assert plan.segments[0].start is None and plan.segments[-1].end is None
    assert plan.segments[1].start == Fraction(2, 5) and plan.segments[1].end == Fraction(4, 5)
    again = type(plan).from_json(json.loads(plan.dumps()))
    assert again == plan
    assert len(plan_segments(gop_mkv, 100).segments) == 4  # no more segments than keyframes
    assert len(plan_segments(gop_mkv, "auto").segments) == 1  # 1.6 s of source: one minute-long segment
    assert parse_count("auto") == "auto" and parse_count("3") == 3
    with pytest.raises(UsageError):
        parse_count("0")


def test_mp4_index_plan_equals_the_demux_plan(tmp_path: Path) -> None:
    """An MP4's plan comes from its sample index (keyframe samples read alone): the same cuts and
    counts as a full demux, B-frames and an edit list included."""
    from vsr.media.keyframes import scan_keyframes

    src = tmp_path / "b.mp4"
    write_video(src, size=(32, 24), frames=60, options={"g": "12", "bf": "3", "sc_threshold": "0"}, audio=True)
    fast, full = scan_keyframes(src), scan_keyframes(src, index=False)
    assert fast.positions is not None and full.pts is not None
    assert (fast.frames, fast.duration, len(fast.keyframes)) == (full.frames, full.duration, len(full.keyframes))
    assert fast.resolve(fast.keyframes) == full.keyframes
    assert plan_segments(src, 4, fast) == plan_segments(src, 4, full)
    assert [s.frames for s in plan_segments(src, 5, fast).segments] == [12] * 5


@pytest.mark.parametrize("overlap", [1, 2])
def test_ffv1_in_four_segments_equals_an_unsegmented_run(gop_mkv: Path, tmp_path: Path, espcn_x2, overlap) -> None:
    whole, joined = tmp_path / "whole.mkv", tmp_path / "joined.mkv"
    upscale_video(gop_mkv, whole, loaded=espcn_x2, codec="ffv1")
    stats = upscale_segmented(gop_mkv, joined, segments=4, loaded=espcn_x2, codec="ffv1", overlap=overlap)
    assert stats.computed == [0, 1, 2, 3] and stats.frames == 40
    assert _frames(joined) == _frames(whole)  # pixel-equal, same timestamps
    assert packets(joined, "audio") == packets(gop_mkv, "audio")  # muxed once from the source: no seams
    assert packets(joined, "subtitle") == packets(whole, "subtitle")
    assert chapters(joined) == chapters(whole) and len(chapters(joined)) == 2
    assert not WorkDir(joined).path.exists()  # the work folder goes after a successful join
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_mpegts_source_with_audio(tmp_path: Path, espcn_x2) -> None:
    """An MPEG-TS source (90 kHz clock, audio interleaved): timestamps and copied audio match a whole run."""
    src = tmp_path / "src.ts"
    write_video(src, size=(32, 24), frames=36, container_format="mpegts", audio=True,
                options={"g": "9", "bf": "0", "sc_threshold": "0"})
    whole, joined = tmp_path / "whole.mkv", tmp_path / "joined.mkv"
    upscale_video(src, whole, loaded=espcn_x2, codec="ffv1")
    upscale_segmented(src, joined, segments=4, loaded=espcn_x2, codec="ffv1")
    assert _frames(joined) == _frames(whole)
    assert packets(joined, "audio") == packets(whole, "audio")


@pytest.mark.parametrize("suffix", ["mp4", "mov", "ts", "mkv"])
def test_h264_with_b_frames_joins_with_increasing_dts(tmp_path: Path, espcn_x2, suffix: str) -> None:
    src = tmp_path / "src.mp4"
    write_video(src, size=(32, 24), frames=36, options={"g": "9", "sc_threshold": "0", "bf": "3"}, audio=True)
    dst = tmp_path / f"out.{suffix}"
    stats = upscale_segmented(src, dst, segments=4, loaded=espcn_x2, codec="libx264",
                              encoder_options={"bf": "3", "x264-params": "b-pyramid=normal"})
    assert stats.frames == 36 and len(stats.computed) == 4
    pkts = _video_packets(dst)
    if suffix != "mkv":  # Matroska stores no DTS
        dts = [p.dts for p in pkts]
        assert all(a < b for a, b in zip(dts, dts[1:])), dts
    with av.open(str(dst)) as c:
        c.streams.video[0].codec_context.options = {"err_detect": "explode"}
        decoded = [f.pts for f in c.decode(video=0)]
    src_pts = sorted(p.pts for p in _video_packets(src))
    assert len(decoded) == 36
    tb_src = av.open(str(src)).streams.video[0].time_base
    tb_out = av.open(str(dst)).streams.video[0].time_base
    if suffix in ("mp4", "mov"):
        assert [Fraction(p) * tb_out for p in decoded] == [Fraction(p) * tb_src for p in src_pts]


@pytest.mark.parametrize("name,codec,options,fmt", [
    ("open.ts", "mpeg2video", {"g": "9", "bf": "2"}, "mpegts"),
    ("open.mkv", "libx264", {"bf": "2", "x264-params": "open-gop=1:keyint=9:min-keyint=9:scenecut=0"}, None),
])
def test_open_gop_sources(tmp_path: Path, espcn_x2, name: str, codec: str, options: dict, fmt: str | None) -> None:
    """Open GOPs (B-frames shown before their I-frame, decoded after it): MPEG-2 (open by default)
    and x264 open-gop. The leading frames land in the segment before, decoded right."""
    src = tmp_path / name
    write_video(src, codec=codec, size=(32, 24), frames=36, container_format=fmt, options=options)
    whole, joined = tmp_path / "whole.mkv", tmp_path / "joined.mkv"
    upscale_video(src, whole, loaded=espcn_x2, codec="ffv1")
    stats = upscale_segmented(src, joined, segments=3, loaded=espcn_x2, codec="ffv1")
    assert len(stats.computed) == 3
    assert _frames(joined) == _frames(whole)


@pytest.mark.parametrize("codec, options", [
    ("libx264", {"g": "9", "sc_threshold": "0", "bf": "3", "x264-params": "b-pyramid=normal"}),  # 2 frames of delay
    ("mpeg4", {"g": "9", "bf": "2"}),  # 1 frame
])
def test_avi_with_b_frames_is_cut_on_the_decoders_clock(tmp_path: Path, espcn_x2, codec: str, options: dict) -> None:
    """AVI video is timed by decode order (the parser's presentation times are guesses): the plan
    cuts on that clock too, so no frame next to a cut is lost."""
    src = tmp_path / "src.avi"
    write_video(src, codec=codec, size=(32, 24), frames=36, options=options)
    whole, joined = tmp_path / "whole.mkv", tmp_path / "joined.mkv"
    upscale_video(src, whole, loaded=espcn_x2, codec="ffv1")
    stats = upscale_segmented(src, joined, segments=3, loaded=espcn_x2, codec="ffv1")
    assert len(stats.computed) == 3 and stats.frames == 36
    assert _frames(joined) == _frames(whole) and len(_frames(whole)) == 36


def test_vfr_timestamps_come_from_the_source(tmp_path: Path, espcn_x2) -> None:
    pts = [0, 40, 73, 120, 200, 210, 260, 330, 400, 433, 470, 560, 600, 640, 700, 705]
    src = tmp_path / "vfr.mkv"
    write_video(src, size=(32, 24), frames=len(pts), time_base=Fraction(1, 1000), pts=pts,
                options={"g": "4", "bf": "0", "sc_threshold": "0"}, audio=True)
    plan = plan_segments(src, 4)
    assert [s.start_pts for s in plan.segments] == [0, 200, 400, 600]
    dst = tmp_path / "out.mkv"
    upscale_segmented(src, dst, segments=4, loaded=espcn_x2, codec="ffv1")
    assert [p for p, _ in _frames(dst)] == pts


def test_single_keyframe_is_one_segment(tmp_path: Path, espcn_x2, caplog) -> None:
    src = tmp_path / "one.mkv"
    write_video(src, size=(32, 24), frames=12, options={"g": "1000", "sc_threshold": "0"})
    with caplog.at_level(logging.WARNING):
        stats = upscale_segmented(src, tmp_path / "out.mkv", segments=4, loaded=espcn_x2, codec="ffv1")
    assert stats.segments == 1 and stats.frames == 12
    assert "single keyframe" in caplog.text


def test_join_refuses_a_missing_or_corrupt_part(gop_mkv: Path, tmp_path: Path, espcn_x2) -> None:
    from vsr.config import BackendConfig, UpscaleConfig
    from vsr.segments.run import join_run, plan_run, run_segment

    dst = tmp_path / "out.mkv"
    cfg = UpscaleConfig(backend=BackendConfig("onnxruntime"))
    plan_run(gop_mkv, dst, cfg, 3)
    for i in (0, 2):
        run_segment(gop_mkv, dst, cfg, i)
    with pytest.raises(MediaError, match=r"segment 1 .*missing"):
        join_run(gop_mkv, dst, cfg)
    run_segment(gop_mkv, dst, cfg, 1)
    part = WorkDir(dst).part(2)
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(MediaError, match=r"segment 2 .*corrupt") as e:
        join_run(gop_mkv, dst, cfg)
    assert "\n" not in str(e.value) and not dst.exists()
    assert run_segment(gop_mkv, dst, cfg, 2) and not run_segment(gop_mkv, dst, cfg, 0)  # redone / kept
    assert join_run(gop_mkv, dst, cfg) == 40


def test_changed_options_discard_stale_parts(gop_mkv: Path, tmp_path: Path, caplog) -> None:
    from vsr.config import BackendConfig, EncodeConfig, UpscaleConfig
    from vsr.segments.run import plan_run, run_segment

    dst = tmp_path / "out.mkv"
    cfg = UpscaleConfig(backend=BackendConfig("onnxruntime"))
    plan_run(gop_mkv, dst, cfg, 2)
    run_segment(gop_mkv, dst, cfg, 0)
    other = UpscaleConfig(backend=BackendConfig("onnxruntime"), encode=EncodeConfig(crf=30))
    with pytest.raises(UsageError, match="differ from the plan"):
        run_segment(gop_mkv, dst, other, 1)
    with caplog.at_level(logging.WARNING):
        plan_run(gop_mkv, dst, other, 2)
    assert "1 finished segment(s) are discarded" in caplog.text
    assert not WorkDir(dst).part(0).exists()


def _vsr(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vsr", *args], capture_output=True, text=True, timeout=300, **kw)


def test_kill_then_rerun_computes_only_unfinished_segments(gop_mkv: Path, tmp_path: Path) -> None:
    """Segments 0 and 1 finished on 'other nodes', segment 2 killed (-9) part-way: the rerun of
    plain ``vsr upscale --segments 4`` computes exactly the segments without a sound part."""
    dst = tmp_path / "out.mkv"
    opts = ["--backend", "onnxruntime", "--codec", "ffv1"]
    assert _vsr("segments", "plan", str(gop_mkv), "-o", str(dst), "--segments", "4", *opts).returncode == 0
    for i in (0, 1):
        assert _vsr("segments", "run", str(gop_mkv), "-o", str(dst), "--index", "1" if i else "0", *opts).returncode == 0
    work = WorkDir(dst)
    proc = subprocess.Popen([sys.executable, "-m", "vsr", "segments", "run", str(gop_mkv), "-o", str(dst),
                             "--index", "2", *opts], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not any(".vsr-partial" in p.name for p in work.path.iterdir()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {i for i in range(4) if work.record(i) is not None}
    assert {0, 1} <= done and 3 not in done  # 2 may have finished before the kill landed
    r = _vsr("upscale", str(gop_mkv), "-o", str(dst), "--segments", "4", *opts, "--progress", "none")
    assert r.returncode == 0, r.stderr
    computed, reused = 4 - len(done), len(done)
    assert f"({computed} computed, {reused} reused)" in r.stdout
    assert len(_frames(dst)) == 40 and not work.path.exists()


def test_cli_farm_steps_and_one_line_errors(gop_mkv: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    r = _vsr("segments", "plan", str(gop_mkv), "-o", str(dst), "--segments", "2", "--backend", "onnxruntime")
    plan = json.loads(r.stdout)
    assert [(s["index"], s["start"], s["end"], s["frames"]) for s in plan["segments"]] == [(0, None, 0.8, 20),
                                                                                           (1, 0.8, None, 20)]
    assert {"start_pts", "end_pts"} <= set(plan["segments"][0])
    r = _vsr("segments", "join", str(gop_mkv), "-o", str(dst))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "segment 0" in r.stderr and "Traceback" not in r.stderr
    r = _vsr("segments", "run", str(gop_mkv), "-o", str(dst), "--index", "5", "--backend", "onnxruntime")
    assert r.returncode == 2 and "segments 0 to 1" in r.stderr


def test_hdr10_10bit_source_in_segments(tmp_path: Path, espcn_x2) -> None:
    """10-bit HEVC, BT.2020 PQ with mastering metadata: x265 parts (the 10-bit default) join with
    the colour tags and the depth of an unsegmented run."""
    from media import BT2020_PQ

    x265 = ("hdr10=1:repeat-headers=1:log-level=error:keyint=6:min-keyint=6:scenecut=0:"
            "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400")
    src = tmp_path / "hdr.mkv"
    write_video(src, codec="libx265", pix_fmt="yuv420p10le", size=(32, 24), frames=18, color=BT2020_PQ,
                options={"preset": "ultrafast", "x265-params": x265})
    whole, joined = tmp_path / "whole.mp4", tmp_path / "joined.mp4"
    upscale_video(src, whole, loaded=espcn_x2)
    stats = upscale_segmented(src, joined, segments=3, loaded=espcn_x2)
    assert stats.segments == 3 and stats.frames == 18
    with av.open(str(whole)) as a, av.open(str(joined)) as b:
        ca, cb = a.streams.video[0].codec_context, b.streams.video[0].codec_context
        assert (cb.name, cb.format.name, cb.width) == (ca.name, ca.format.name, ca.width) == ("hevc", "yuv420p10le", 64)
        assert (cb.color_primaries, cb.color_trc, cb.colorspace) == (ca.color_primaries, ca.color_trc, ca.colorspace)
        assert cb.codec_tag == ca.codec_tag == "hvc1"  # as Apple's players need (issue 17), joined or not
        fa, fb = next(a.decode(video=0)), next(b.decode(video=0))
        assert {sd.type for sd in fb.side_data} >= {sd.type for sd in fa.side_data}  # mastering display, light level
    assert [p for p, _ in _frames(joined)] == [p for p, _ in _frames(whole)]


def test_cli_segments_with_target(gop_mkv: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    r = _vsr("upscale", str(gop_mkv), "-o", str(dst), "--target", "64x48", "--segments", "2", "--backend",
             "onnxruntime", "--progress", "json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert lines and all("segment" in x for x in lines) and lines[-1]["frame"] == lines[-1]["total"] == 40
    with av.open(str(dst)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (64, 48)
        assert len([f for f in c.decode(video=0)]) == 40


def test_kill_of_the_whole_command_then_rerun(gop_mkv: Path, tmp_path: Path) -> None:
    """``vsr upscale --segments 4`` killed (-9) with its first part journalled: the same command
    again computes exactly the other three and reuses the first.

    Race-free on any CPU: before ``python -m vsr`` starts, the child process puts a FIFO where
    segment 1's hidden partial file goes (``.part-00001.nut.vsr-partial-PID``: its own pid, so
    vsr keeps it as its own). Opening it for writing blocks until a reader comes, and none does:
    the run can finish segment 0 and journal it, never segment 1, however fast the machine.
    """
    from vsr.output import PARTIAL_TAG

    dst = tmp_path / "out.mkv"
    opts = ["--segments", "4", "--backend", "onnxruntime", "--codec", "ffv1"]
    cmd = ["upscale", str(gop_mkv), "-o", str(dst), *opts, "--progress", "none"]
    assert _vsr("segments", "plan", str(gop_mkv), "-o", str(dst), *opts).returncode == 0  # the same plan, kept
    work = WorkDir(dst)
    held = work.part(1)

    def hold_segment_1() -> None:  # in the child, after fork, before exec
        os.mkfifo(held.with_name(f".{held.name}{PARTIAL_TAG}-{os.getpid()}"))

    proc = subprocess.Popen([sys.executable, "-m", "vsr", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=hold_segment_1)
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and work.record(0) is None and time.monotonic() < deadline:
            time.sleep(0.01)  # polling a state the run cannot pass: segment 1 stays held
        assert proc.poll() is None and work.record(0) is not None
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert [work.record(i) is not None for i in range(4)] == [True, False, False, False] and not dst.exists()
    r = _vsr(*cmd)
    assert r.returncode == 0, r.stderr
    assert "(3 computed, 1 reused)" in r.stdout
    assert len(_frames(dst)) == 40 and not work.path.exists()


def test_cli_summary_of_a_segmented_run_says_what_ran(gop_mkv: Path, tmp_path: Path, capsys) -> None:
    """As an unsegmented run's (issue 18): model, weight set, backend, encoder, frames and sizes of
    the whole file, speed and file size; then the segments."""
    from vsr.cli import main

    dst = tmp_path / "out.mkv"
    args = ["upscale", str(gop_mkv), "-o", str(dst), "--segments", "2", "--codec", "ffv1", "--backend", "onnxruntime",
            "--progress", "none"]
    assert main(args) == 0
    line = capsys.readouterr().out.strip()
    size_kb = dst.stat().st_size / 1000
    assert line.startswith(f"{dst}: espcn x2 ") and " weights, onnxruntime, ffv1; 40 frames 32x24 -> 64x48 in " in line
    assert "x realtime)" in line and f", {size_kb:.1f} kB; 2 segments (2 computed, 0 reused), join " in line, line
    dst.unlink()  # every part computed by farm steps: this run only joins, and says frames and times
    opts = ["--codec", "ffv1", "--backend", "onnxruntime", "--progress", "none"]
    assert main(["segments", "plan", str(gop_mkv), "-o", str(dst), "--segments", "2", *opts]) == 0
    for index in ("0", "1"):
        assert main(["segments", "run", str(gop_mkv), "-o", str(dst), "--index", index, *opts]) == 0
    capsys.readouterr()
    assert main(args) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{dst}: 40 frames in ") and " fps" not in line, line  # nothing computed: no rate
    assert "; 2 segments (0 computed, 2 reused), all 40 frames reused from an earlier run, join " in line, line


def test_resumed_run_counts_only_frames_computed_here_in_fps_and_speed(gop_mkv: Path, tmp_path: Path,
                                                                        capsys) -> None:
    """Segment 0 of 4 (10 of 40 frames, 0.4 s of 1.6 s) computed beforehand by the farm step; the
    full run reuses it: its fps and speed count the 30 frames (1.2 s of video) computed here, over
    this run's wall-clock time, and the summary names the 10 reused frames."""
    import re

    from vsr.cli import main

    dst = tmp_path / "out.mkv"
    opts = ["--codec", "ffv1", "--backend", "onnxruntime", "--progress", "none"]
    assert main(["segments", "plan", str(gop_mkv), "-o", str(dst), "--segments", "4", *opts]) == 0
    assert main(["segments", "run", str(gop_mkv), "-o", str(dst), "--index", "0", *opts]) == 0
    capsys.readouterr()
    assert main(["upscale", str(gop_mkv), "-o", str(dst), "--segments", "4", *opts]) == 0
    line = capsys.readouterr().out.strip()
    m = re.search(r"; 40 frames 32x24 -> 64x48 in ([0-9.]+) s \(([0-9.]+) fps, ([0-9.]+)x realtime\)", line)
    assert m, line
    seconds, fps, speed = (float(g) for g in m.groups())
    slow, fast = seconds + 0.05, max(seconds - 0.05, 0.01)  # the wall-clock time, printed to 0.1 s
    assert 30 / slow - 0.005 <= fps <= 30 / fast + 0.005, line  # 40 / seconds before the fix
    assert 1.2 / slow - 0.005 <= speed <= 1.2 / fast + 0.005, line  # 1.6 / seconds before the fix
    assert "; 4 segments (3 computed, 1 reused), 10 frames reused from an earlier run and left out of fps and " \
           "speed, join " in line, line
    assert len(_frames(dst)) == 40


def test_farm_steps_refuse_another_input_than_the_plans(gop_mkv: Path, tmp_path: Path, capsys) -> None:
    """'segments run' and 'join' with an input other than the planned one: one usage error, no
    part computed from it and no output mixing one file's picture with another's sound (the
    fingerprint is of the plan's source, so only the path tells them apart). A link to the
    planned file is the same input."""
    from vsr.cli import main

    other = tmp_path / "other.mkv"
    write_video(other, size=(32, 24), frames=20, audio=True)
    link = tmp_path / "link.mkv"
    link.symlink_to(gop_mkv)
    dst = tmp_path / "out.mkv"
    opts = ["--codec", "ffv1", "--backend", "onnxruntime", "--progress", "none"]
    assert main(["segments", "plan", str(gop_mkv), "-o", str(dst), "--segments", "2", *opts]) == 0
    capsys.readouterr()
    for step in (["run", "--index", "0", *opts], ["join"]):
        assert main(["segments", step[0], str(other), "-o", str(dst), *step[1:]]) == 2
        assert capsys.readouterr().err.strip() == (f"vsr: error: out.mkv: its segment plan is for {gop_mkv.resolve()}, "
                                                   f"not {other}; give that input, or plan again with this one")
    assert WorkDir(dst).record(0) is None and not dst.exists()
    assert main(["segments", "run", str(link), "-o", str(dst), "--index", "0", *opts]) == 0
    assert WorkDir(dst).record(0) is not None


def test_joined_recordings_whose_timestamps_reset_are_one_segment(tmp_path: Path, espcn_x2, caplog) -> None:
    """Two MPEG-TS recordings joined byte-wise (``cat``), each with keyframes, the second's
    timestamps starting again at the first's: a time names two places, so cutting by time lost
    the second recording (12 of 24 frames, exit 0). Now one segment, with a warning, and every
    frame as an unsegmented run gives them."""
    parts = []
    for k in range(2):
        part = tmp_path / f"rec{k}.ts"
        write_video(part, frames=12, audio=True, container_format="mpegts",
                    options={"preset": "ultrafast", "g": "4", "keyint_min": "4", "sc_threshold": "0"},
                    picture_index=lambda i, k=k: i + 12 * k)
        parts.append(part.read_bytes())
    src = tmp_path / "joined.ts"
    src.write_bytes(b"".join(parts))
    whole, joined = tmp_path / "whole.mkv", tmp_path / "joined.mkv"
    upscale_video(src, whole, loaded=espcn_x2, codec="ffv1")
    with caplog.at_level(logging.WARNING):
        stats = upscale_segmented(src, joined, segments=3, loaded=espcn_x2, codec="ffv1")
    assert stats.segments == 1 and stats.frames == 24
    assert "joined.ts: its timestamps step back after 0.46 s (recordings joined, or a damaged file)" in caplog.text
    assert _frames(joined) == _frames(whole) and len(_frames(whole)) == 24


@pytest.mark.parametrize("suffix", [".mov", ".ts"])
@pytest.mark.parametrize("segments", [None, "2"])
def test_av1_into_mov_or_ts_is_refused_before_any_work(gop_mkv: Path, tmp_path: Path, suffix: str,
                                                        segments: str | None) -> None:
    """PyAV's FFmpeg refuses AV1 in MOV and writes it into MPEG-TS as an unreadable data stream:
    one line naming the containers that work, exit 2, nothing written (no output, no work folder)."""
    dst = tmp_path / f"out{suffix}"
    extra = ["--segments", segments] if segments else []
    r = _vsr("upscale", str(gop_mkv), "-o", str(dst), "--codec", "libsvtav1", "--backend", "onnxruntime", *extra)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "AV1 video (libsvtav1) cannot go into" in r.stderr and ".mp4" in r.stderr and ".mkv" in r.stderr
    assert "Traceback" not in r.stderr and list(tmp_path.iterdir()) == []


def test_av1_into_mp4_and_mkv_unsegmented_and_segmented(gop_mkv: Path, tmp_path: Path, espcn_x2) -> None:
    """Where the containers carry AV1, it goes there joined or not: same frame count and times."""
    for suffix in (".mp4", ".mkv"):
        whole, joined = tmp_path / f"whole{suffix}", tmp_path / f"joined{suffix}"
        upscale_video(gop_mkv, whole, loaded=espcn_x2, codec="libsvtav1")
        stats = upscale_segmented(gop_mkv, joined, segments=2, loaded=espcn_x2, codec="libsvtav1")
        assert stats.segments == 2
        with av.open(str(joined)) as c:
            assert c.streams.video[0].codec_context.name in ("av1", "libdav1d") and c.streams.audio
        assert [p for p, _ in _frames(joined)] == [p for p, _ in _frames(whole)] and len(_frames(joined)) == 40


def test_batch_of_av1_into_mov_is_refused_before_any_job(gop_mkv: Path, tmp_path: Path) -> None:
    r = _vsr("batch", str(gop_mkv), "-d", str(tmp_path / "out"), "--codec", "libsvtav1", "--container", "mov")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot go into .mov" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def _streams(path: Path) -> dict[str, list]:
    """Per stream type: ``(pts, dts, bytes)`` of every packet (video: pts and pixels decoded)."""
    with av.open(str(path)) as c:
        out: dict[str, list] = {"audio": [], "subtitle": []}
        for p in c.demux():
            if p.size and p.stream.type in out:
                out[p.stream.type].append((p.pts, p.dts, bytes(p)))
        out["chapters"] = [(ch["start"], ch["end"]) for ch in c.chapters()]
    out["video"] = _frames(path)
    return out


@pytest.mark.parametrize("start, end", [("0.3", "1.45"), (None, "1.1"), ("0.5", None)])
def test_time_range_in_segments_equals_the_range_unsegmented(gop_mkv: Path, tmp_path: Path, espcn_x2,
                                                             start: str | None, end: str | None) -> None:
    """``--start/--end`` with ``--segments 3`` (FFV1): the same frames, pixels and timestamps as
    the same range in one run, the same audio and subtitle packets, the same chapters."""
    from vsr.config import time_range

    rng = time_range(start, end)
    whole, joined = tmp_path / "whole.mkv", tmp_path / "joined.mkv"
    upscale_video(gop_mkv, whole, range=rng, loaded=espcn_x2, codec="ffv1")
    plan = plan_segments(gop_mkv, 3, time_range=rng)
    assert plan.segments[0].start == rng.start and plan.segments[-1].end == rng.end
    cuts = [s.start_pts for s in plan.segments[1:]]
    assert cuts == sorted(cuts) and set(cuts) <= {400, 800, 1200} and cuts[0] > plan.segments[0].start_pts
    stats = upscale_segmented(gop_mkv, joined, segments=3, range=rng, loaded=espcn_x2, codec="ffv1")
    a, b = _streams(whole), _streams(joined)
    assert stats.segments == len(plan.segments) > 1 and stats.frames == len(a["video"]) == plan.frames
    assert b["video"] == a["video"] and 0 <= b["video"][0][0] < 40  # pixels and times, zero at the start (ms)
    assert b["audio"] == a["audio"] and b["subtitle"] == a["subtitle"] and b["chapters"] == a["chapters"]
    assert a["audio"]


def test_cli_time_range_in_segments_farm_steps(gop_mkv: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    opts = ["--backend", "onnxruntime", "--codec", "ffv1"]
    r = _vsr("segments", "plan", str(gop_mkv), "-o", str(dst), "--segments", "2", "--start", "0.3", "--end", "1.45",
             *opts)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["range"] == ["3/10", "29/20"] and plan["frames"] == 29
    r = _vsr("segments", "run", str(gop_mkv), "-o", str(dst), "--index", "0", "--start", "0.5", *opts)
    assert r.returncode == 2 and "covers 0.3 s-1.45 s" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    for i in ("0", "1"):
        assert _vsr("segments", "run", str(gop_mkv), "-o", str(dst), "--index", i, *opts).returncode == 0
    assert _vsr("segments", "join", str(gop_mkv), "-o", str(dst)).returncode == 0
    assert [p for p, _ in _frames(dst)][:2] == [20, 60] and len(_frames(dst)) == 29  # ms from 0.3 s
    one = tmp_path / "one.mkv"
    r = _vsr("upscale", str(gop_mkv), "-o", str(one), "--segments", "2", "--start", "0.3", "--duration", "1.15", *opts)
    assert r.returncode == 0 and "2 segments" in r.stdout, r.stderr
    assert _frames(one) == _frames(dst)
    r = _vsr("upscale", str(gop_mkv), "-o", str(tmp_path / "late.mkv"), "--segments", "2", "--start", "5", *opts)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "--start 5 s is past the end of the input" in r.stderr
    assert not (tmp_path / "late.mkv").exists() and not WorkDir(tmp_path / "late.mkv").path.exists()


def test_time_range_in_segments_of_a_b_frame_mp4(tmp_path: Path, espcn_x2) -> None:
    """An MP4 with B-frames (pts out of decode order): the ranged plan demuxes every
    timestamp and the join still equals the range unsegmented, video and audio."""
    from vsr.config import time_range

    src = tmp_path / "b.mp4"
    write_video(src, size=(32, 24), frames=60, options={"g": "12", "bf": "3", "sc_threshold": "0"}, audio=True)
    rng = time_range("0.3", "1.9")
    whole, joined = tmp_path / "whole.mkv", tmp_path / "joined.mkv"
    upscale_video(src, whole, range=rng, loaded=espcn_x2, codec="ffv1")
    assert upscale_segmented(src, joined, segments=3, range=rng, loaded=espcn_x2, codec="ffv1").segments == 3
    a, b = _streams(whole), _streams(joined)
    assert b["video"] == a["video"] and len(a["video"]) == 40 and b["audio"] == a["audio"] and a["audio"]
