"""``--dry-run`` estimates: frames and duration exact, the time and the output size within 2x of
what the job then takes, on the shipped sample; nothing written."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from vsr.cli import main
from vsr.config import TimeRange, UpscaleConfig
from vsr.samples import sample_path


def _cpu_seconds() -> float:
    """CPU time of this process, every thread (user + system)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_estimates_within_2x_of_the_job_on_the_sample(tmp_path: Path):
    """3 s of the sample (75 frames): a 24-frame trial from its middle, then the job itself.

    The time is compared in CPU seconds: the estimate extrapolates the trial's cost per frame to
    the job's frames, and CPU time measures that cost whatever else the machine runs (wall time
    would make this a timing race on a shared CI machine). Frames and duration are exact, the
    size within 2x."""
    from vsr.estimate import estimate, run_trial
    from vsr.media.probe import probe
    from vsr.pipeline import upscale_video

    src = sample_path()
    cfg = UpscaleConfig(range=TimeRange(Fraction(3), Fraction(6)))
    info = probe(src)
    cpu = _cpu_seconds()
    trial = run_trial(src, cfg, info, ".mp4")
    trial_cpu = _cpu_seconds() - cpu
    assert trial.frames == 24 and trial.fps > 0 and trial.bytes > 0
    est = estimate(info, cfg.range, trial)
    assert (est.frames, est.duration) == (75, 3.0)
    assert est.seconds == est.frames / trial.fps
    out = tmp_path / "job.mp4"
    cpu = _cpu_seconds()
    stats = upscale_video(src, out, cfg)
    job_cpu = _cpu_seconds() - cpu
    assert stats.frames == 75
    size = out.stat().st_size
    assert size / 2 <= est.bytes <= size * 2, (est.bytes, size)
    # the trial's cost per frame, extrapolated to the job's frames, against what the job cost
    est_cpu = trial_cpu / trial.frames * est.frames
    assert job_cpu / 2 <= est_cpu <= job_cpu * 2, (est_cpu, job_cpu, est.seconds, stats.seconds)


def test_upscale_dry_run_prints_estimates_and_writes_nothing(tmp_path: Path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["upscale", str(sample_path()), "-o", str(out), "--dry-run", "--duration", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and not out.exists() and list(tmp_path.iterdir()) == []
    assert lines[0].startswith("bikes.mp4: 640x272 -> 1280x544, 50 frames, 2.0 s of video (0 s-2 s); espcn x2 ")
    assert re.fullmatch(r"speed here: \d+\.\d\d fps \(\d+\.\d\dx realtime\), measured on 24 frames of bikes\.mp4 "
                        r"with these options", lines[1]), lines[1]
    assert re.fullmatch(rf"estimate: [\d.]+ (s|min \d\d s) to upscale, output about [\d.]+ [kM]B -> {re.escape(str(out))}",
                        lines[2]), lines[2]
    assert lines[3].startswith("dry run: nothing was written")


def test_batch_dry_run_totals_and_estimates(tmp_path: Path, make_clip, capsys):
    a = make_clip("est_a.mp4", size=(64, 48), frames=30)
    b = make_clip("est_b.mp4", size=(64, 48), frames=20)
    src = tmp_path / "in"
    src.mkdir()
    for clip in (a, b):
        (src / clip.path.name).write_bytes(clip.path.read_bytes())
    out = tmp_path / "out"
    assert main(["batch", str(src), "-d", str(out), "--dry-run", "--codec", "ffv1", "--container", "mkv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert not out.exists()
    speed = [x for x in lines if x.startswith("speed here for 64x48, espcn x2 ")]
    assert len(speed) == 1 and ", ffv1: " in speed[0]  # one trial for the two files of one size and options
    assert "total: 2 file(s) to upscale, 50 frames, 2.0 s of video" in lines
    assert re.fullmatch(r"estimate: about [\d.]+ s to upscale, output about [\d.]+ [kM]B in all \(see docs/batch.md.*",
                        lines[-1]), lines[-1]


def test_dry_run_of_a_range_past_the_end_says_what_the_run_says(tmp_path: Path, make_clip, capsys):
    """--start past the end: the dry run fails in the run's own line (not 'end is not after
    start'), and a batch's totals do not count a negative share of it."""
    clip = make_clip("short.mp4", size=(64, 48), frames=25)  # 1 s
    out = tmp_path / "o.mkv"
    for extra in ([], ["--dry-run"]):
        assert main(["upscale", str(clip.path), "-o", str(out), "--start", "5", "--progress", "none", *extra]) == 1
        assert capsys.readouterr().err.strip() == "vsr: error: short.mp4: --start 5 s is past the end of the input (1 s long)"
    assert not out.exists()
    long = make_clip("long.mp4", size=(64, 48), frames=200)  # 8 s: 3 s of it after the start
    assert main(["batch", str(clip.path), str(long.path), "-d", str(tmp_path / "out"), "--start", "5",
                 "--dry-run", "--codec", "ffv1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "total: 2 file(s) to upscale, 75 frames, 3.0 s of video" in lines, lines


def test_upscale_dry_run_with_segments_shows_the_plan(tmp_path: Path, capsys):
    """``--dry-run --segments N|auto``: the plan a run would make (spans and frames of each
    segment, a summary when there are many), the single-keyframe warning, nothing written."""
    from media import write_video

    gop = {"keyint_min": "10", "sc_threshold": "0", "bf": "0"}
    clips = {}
    for name, g in (("gop10", "10"), ("gop2", "2"), ("single", "1000")):
        clips[name] = tmp_path / f"{name}.mkv"  # 32x24, 40 frames at 25 fps: 1.6 s
        write_video(clips[name], size=(32, 24), frames=40, options={**gop, "g": g, "keyint_min": g})
    out = tmp_path / "out.mkv"
    opts = ["-o", str(out), "--dry-run", "--backend", "onnxruntime", "--codec", "ffv1"]

    def dry(clip: str, count: str) -> list[str]:
        assert main(["upscale", str(clips[clip]), *opts, "--segments", count]) == 0
        return capsys.readouterr().out.strip().splitlines()

    lines = dry("gop10", "4")
    i = lines.index("segments: 4, cut at the source's keyframes (4 found)")
    assert lines[i + 1:i + 5] == [f"  segment {k}: {0.4 * k:.2f}-{0.4 * k + 0.4:.2f} s, 0.4 s, 10 frames"
                                  for k in range(4)]
    assert lines[i + 5].startswith("dry run: nothing was written")
    lines = dry("gop10", "auto")  # 1.6 s of source: one segment of about a minute's
    assert "segments: 1 (auto: about a minute each), cut at the source's keyframes (4 found)" in lines
    assert "  segment 0: 0.00-1.60 s, 1.6 s, 40 frames" in lines
    lines = dry("gop2", "20")  # more than are listed one a line
    assert "segments: 20, cut at the source's keyframes (20 found)" in lines
    assert "  0.1 s each, 2 frames ('vsr segments plan' lists them)" in lines
    lines = dry("single", "3")
    assert "segments: 1 (3 asked), cut at the source's keyframes (1 found)" in lines
    assert ("  warning: single.mkv has a single keyframe: it is one segment (it cannot be cut without "
            "re-encoding)") in lines
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gop10.mkv", "gop2.mkv", "single.mkv"]
    # a time range: the plan of the range (the first segment from its start, cuts inside it)
    assert main(["upscale", str(clips["gop10"]), *opts, "--segments", "2", "--start", "0.3", "--end", "1.45"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    i = lines.index("segments: 2, cut at the source's keyframes (4 found)")
    assert lines[i + 1:i + 3] == ["  segment 0: 0.30-0.80 s, 0.5 s, 12 frames",
                                  "  segment 1: 0.80-1.45 s, 0.7 s, 17 frames"]
