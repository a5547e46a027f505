"""vsr batch: many files, bad ones reported, resumable after kill -9, target sizes, reports."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest

from media import frame_count, write_clip, write_text, write_truncated, write_video
from servers import tcp_feeder
from vsr.batch import available_scales, plan_batch, upscale_batch
from vsr.batch.sources import url_name
from vsr.batch.state import JOURNAL_NAME
from vsr.cli import main
from vsr.media.probe import probe
from vsr.output import PARTIAL_TAG
from vsr.target import parse_target, plan_target

FAST = ["--codec", "ffv1", "--container", "mkv", "--progress", "none"]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _visible(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if PARTIAL_TAG in p.name]


@pytest.fixture()
def mixed(tmp_path):
    """Three good clips in nested folders, two broken videos, a text file and an image."""
    src = tmp_path / "in"
    write_clip(src / "a.mp4", 64, 48, frames=4)
    write_clip(src / "sub" / "b.mkv", 48, 32, frames=3, codec="ffv1")
    write_clip(src / "sub" / "deeper" / "c.mov", 32, 32, frames=5)
    write_text(src / "bad.mp4")  # a video name, not a video
    write_truncated(src / "sub" / "cut.mp4")  # no index
    write_text(src / "notes.txt")  # not a video: passed over
    return src


def test_batch_good_done_bad_reported(mixed, tmp_path, capsys):
    out, report = tmp_path / "out", tmp_path / "report.json"
    before = _digest(mixed)
    assert main(["batch", str(mixed), "-d", str(out), "--report", str(report), "-j", "2", *FAST]) == 1
    assert _digest(mixed) == before  # inputs never modified

    for rel, size, frames in [("a.mkv", (128, 96), 4), ("sub/b.mkv", (96, 64), 3), ("sub/deeper/c.mkv", (64, 64), 5)]:
        info = probe(out / rel)
        assert (info.width, info.height) == size
        assert frame_count(out / rel) == frames
    assert sorted(str(p.relative_to(out)) for p in _visible(out)) == ["a.mkv", "sub/b.mkv", "sub/deeper/c.mkv"]
    assert not _partials(out)

    data = json.loads(report.read_text())
    by_name = {Path(f["input"]).name: f for f in data["files"]}
    assert set(by_name) == {"a.mp4", "b.mkv", "c.mov", "bad.mp4", "cut.mp4"}  # notes.txt passed over
    assert data["summary"] == {"total": 5, "done": 3, "skipped": 0, "failed": 2}
    a = by_name["a.mp4"]
    assert (a["status"], a["frames"], a["input_frames"], a["input_size"], a["output_size"]) == \
        ("done", 4, 4, [64, 48], [128, 96])
    assert a["fps"] > 0 and a["seconds"] > 0 and a["duration"] == pytest.approx(0.16, abs=0.05)
    assert a["frame_rate"] == 25 and a["input_bytes"] > 0 and a["output_bytes"] == (out / "a.mkv").stat().st_size
    assert a["model"] == "espcn" and a["scale"] == 2 and a["backend"]
    for bad in ("bad.mp4", "cut.mp4"):
        assert by_name[bad]["status"] == "failed"
        assert "cannot read as video" in by_name[bad]["reason"]
    summary = capsys.readouterr().out
    assert "3 done, 0 skipped, 2 failed of 5 file(s)" in summary and "bad.mp4" in summary

    # the journal holds one line per event, each a JSON object
    lines = [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]
    assert sum(r["event"] == "done" for r in lines) == 3 and sum(r["event"] == "failed" for r in lines) == 2

    # a rerun does only what is missing: nothing; the bad files are reported again
    stamps = {p: p.stat().st_mtime_ns for p in _visible(out)}
    assert main(["batch", str(mixed), "-d", str(out), "--report", str(report), *FAST]) == 1
    assert {p: p.stat().st_mtime_ns for p in _visible(out)} == stamps
    data = json.loads(report.read_text())
    assert data["summary"] == {"total": 5, "done": 0, "skipped": 3, "failed": 2}


def test_all_good_exits_0_and_skips_by_probing_without_journal(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    write_clip(src / "x.mp4", 32, 24, frames=3)
    write_clip(src / "y.mp4", 32, 24, frames=3)
    assert main(["batch", str(src / "*.mp4"), "-d", str(out), *FAST]) == 0
    (out / JOURNAL_NAME).unlink()  # lost journal: completeness is checked on the files themselves
    results = upscale_batch([src], out, codec="ffv1", container="mkv")
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert all("already complete (3 frames)" in r.reason for r in results)
    results = upscale_batch([src], out, codec="ffv1", container="mkv")  # now journaled again
    assert all("journal" in r.reason for r in results)


def _frames(path: Path) -> list:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_jobs_share_one_backend_with_the_same_results(tmp_path, backend):
    """3 jobs calling one backend at once give exactly what 1 job gives."""
    src = tmp_path / "in"
    for i in range(3):
        write_clip(src / f"c{i}.mp4", 48 + 16 * i, 32 + 8 * i, frames=6)
    one = upscale_batch([src], tmp_path / "one", codec="ffv1", container="mkv", backend=backend, jobs=1)
    three = upscale_batch([src], tmp_path / "three", codec="ffv1", container="mkv", backend=backend, jobs=3)
    assert [r.status for r in one + three] == ["done"] * 6
    assert {r.backend for r in one + three} == {backend}
    for i in range(3):
        a, b = _frames(tmp_path / "one" / f"c{i}.mkv"), _frames(tmp_path / "three" / f"c{i}.mkv")
        assert len(a) == len(b) == 6
        assert all((x == y).all() for x, y in zip(a, b))


def test_bars_for_people(tmp_path, capsys):
    src = tmp_path / "in"
    for i in range(3):
        write_clip(src / f"c{i}.mp4", 32, 24, frames=3)
    assert main(["batch", str(src), "-d", str(tmp_path / "out"), "--codec", "ffv1", "--progress", "bar",
                 "-j", "2"]) == 0
    captured = capsys.readouterr()
    # bars go to stderr: a bar per file, and the batch bar ends with every file and frame done
    for i in range(3):
        assert f"c{i}.mp4" in captured.err
        assert frame_count(tmp_path / "out" / f"c{i}.mp4") == 3
    assert "100%" in captured.err and "9/9" in captured.err  # the layout (widths) is tqdm's own
    # stdout carries only the summary a person reads at the end
    assert captured.out.splitlines() == [captured.out.splitlines()[0]]
    assert captured.out.startswith("batch: 3 done, 0 skipped, 0 failed of 3 file(s); 9 frames")


def test_existing_incomplete_output_is_not_trusted(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    write_clip(src / "x.mp4", 32, 24, frames=6)
    write_clip(out / "x.mkv", 32, 24, frames=2, codec="ffv1")  # someone else's file, too short
    [r] = upscale_batch([src], out, codec="ffv1", container="mkv")
    assert r.status == "failed" and "not a complete output" in r.reason and "holds 2 frames" in r.reason
    assert frame_count(out / "x.mkv") == 2  # left alone
    [r] = upscale_batch([src], out, codec="ffv1", container="mkv", overwrite=True)
    assert r.status == "done" and frame_count(out / "x.mkv") == 6


def test_stale_partials_of_dead_writers_are_removed(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    write_clip(src / "x.mp4", 32, 24, frames=2)
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    stale = out / f".x.mkv{PARTIAL_TAG}-{dead.pid}"
    stale.write_bytes(b"half a file")
    other = out / f".unrelated{PARTIAL_TAG}-{dead.pid}.mkv"  # not an output of this batch: left alone
    other.write_bytes(b"x")
    [r] = upscale_batch([src], out, codec="ffv1", container="mkv")
    assert r.status == "done" and not stale.exists() and other.exists()


def test_dry_run_prints_the_plan_and_does_nothing(mixed, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(mixed), "-d", str(out), "--dry-run", "--target", "96p", *FAST]) == 1  # 2 will fail
    assert not out.exists()
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith(str(mixed / "a.mp4")))
    assert "64x48" in line and "espcn x2 -> 128x96" in line and str(out / "a.mkv") in line
    assert "FAIL" in next(x for x in text.splitlines() if "bad.mp4" in x)
    assert "plan: 3 to upscale, 0 to copy, 0 to skip, 2 failing, of 5 file(s); nothing was done" in text


def test_usage_errors_exit_2(tmp_path, capsys):
    clip = write_clip(tmp_path / "a.mp4", 32, 24, frames=2)
    out = str(tmp_path / "out")
    assert main(["batch", str(clip), "-d", out, "--scale", "2", "--target", "1080p"]) == 2
    assert main(["batch", str(clip), "-d", out, "--template", "{nope}.mkv"]) == 2
    assert main(["batch", str(clip), "-d", out, "--template", "../{stem}.mkv"]) == 2
    assert main(["batch", str(tmp_path / "empty_dir_missing"), "-d", out]) == 1  # missing input: reported
    assert main(["batch", str(tmp_path), "-d", str(tmp_path)]) == 2  # OUTDIR is the input folder
    (tmp_path / "empty").mkdir()
    assert main(["batch", str(tmp_path / "empty"), "-d", out]) == 2  # no video at all
    with pytest.raises(SystemExit) as e:
        main(["batch", str(clip), "-d", out, "--target", "big"])
    assert e.value.code == 2
    assert main(["upscale", str(clip), "-o", str(tmp_path / "u.mkv"), "--scale", "2", "--target", "1080p"]) == 2


def test_output_name_collisions_and_templates(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    write_clip(src / "a.mp4", 32, 24, frames=2)
    write_clip(src / "a.mov", 32, 24, frames=2)
    results = upscale_batch([src], out, codec="ffv1", container="mkv")
    assert sorted(r.status for r in results) == ["done", "failed"]
    assert "same output as" in next(r.reason for r in results if r.status == "failed")
    results = upscale_batch([src], tmp_path / "out2", codec="ffv1", template="{root}/{stem}_{ext}_x{scale}.mkv")
    assert sorted(Path(r.output).relative_to(tmp_path / "out2").as_posix() for r in results) == \
        ["in/a_mov_x2.mkv", "in/a_mp4_x2.mkv"]
    assert all(r.status == "done" for r in results)


def _expect(path: Path, target: str):
    info = probe(path)
    return plan_target(info.width, info.height, parse_target(target), available_scales("espcn"),
                       sar=info.sample_aspect_ratio, rotation=info.rotation, log2_chroma=info.log2_chroma)


def test_target_end_to_end(tmp_path):
    """4:3, 16:9, rotated, anamorphic and odd-sized sources to one target, through the real pipeline."""
    src, out = tmp_path / "in", tmp_path / "out"
    write_clip(src / "wide43.mp4", 64, 48, frames=2)  # 4:3
    write_clip(src / "wide169.mp4", 64, 36, frames=2)  # 16:9
    write_clip(src / "rotated.mp4", 64, 48, frames=2, rotation=90)  # shows as 48x64
    write_clip(src / "anamorphic.mp4", 64, 48, frames=2, sar=Fraction(4, 3))  # shows as 85x48
    write_clip(src / "odd.mkv", 33, 25, frames=2, codec="ffv1", pix_fmt="yuv444p")  # odd, no subsampling
    write_clip(src / "big.mp4", 160, 120, frames=2)  # already above 90p
    results = {Path(r.input).name: r for r in upscale_batch([src], out, target="90p", codec="ffv1",
                                                              container="mkv", at_target="copy")}
    want = {"wide43.mp4": (120, 90), "wide169.mp4": (160, 90), "rotated.mp4": (120, 90),
            "anamorphic.mp4": (160, 90), "odd.mkv": (119, 90)}
    for name, size in want.items():
        r = results[name]
        assert r.status == "done", r.reason
        assert tuple(r.output_size) == size == _expect(src / name, "90p").size
        info = probe(Path(r.output))
        assert (info.width, info.height) == size
        assert r.scale == _expect(src / name, "90p").scale
        # the display aspect is kept (to within the rounding of the size)
        src_w, src_h = probe(src / name).display_size
        out_w, out_h = info.display_size
        assert abs(out_w / out_h - src_w / src_h) < 0.02
        assert min(out_w, out_h) == 90
    assert probe(Path(results["rotated.mp4"].output)).rotation in (90, 270)  # rotation tag kept
    assert probe(Path(results["rotated.mp4"].output)).display_size == (90, 120)
    big = results["big.mp4"]
    assert big.status == "done" and big.reason.startswith("copied: already 160x120")
    assert Path(big.output).read_bytes() == (src / "big.mp4").read_bytes()

    # WxH: fit inside the box as displayed
    [r] = upscale_batch([src / "rotated.mp4"], tmp_path / "box", target="100x100", codec="ffv1", container="mkv")
    info = probe(Path(r.output))
    assert (info.width, info.height) == (100, 76)
    assert abs(info.display_size[1] - 100) <= 1  # the pixel aspect keeps the source's exact display aspect


def test_upscale_with_target(tmp_path, capsys):
    clip = write_clip(tmp_path / "a.mp4", 64, 36, frames=2)
    assert main(["upscale", str(clip), "-o", str(tmp_path / "u.mkv"), "--target", "90p", "--codec", "ffv1",
                 "--progress", "none"]) == 0
    info = probe(tmp_path / "u.mkv")
    assert (info.width, info.height) == (160, 90)
    assert main(["upscale", str(clip), "-o", str(tmp_path / "v.mkv"), "--target", "36p"]) == 0
    assert "nothing to do" in capsys.readouterr().err and not (tmp_path / "v.mkv").exists()


def test_progress_lines_for_farm_managers(tmp_path, capsys):
    src = tmp_path / "in"
    write_clip(src / "a.mp4", 32, 24, frames=3)
    write_text(src / "bad.mp4")
    assert main(["batch", str(src), "-d", str(tmp_path / "out"), "--codec", "ffv1", "--progress", "json"]) == 1
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    kinds = {e["event"] for e in events}
    assert kinds == {"batch", "file", "progress"}
    last = [e for e in events if e["event"] == "batch"][-1]
    assert (last["done"], last["failed"], last["finished"], last["total"], last["percent"]) == (1, 1, 2, 2, 100.0)
    prog = [e for e in events if e["event"] == "progress"]
    assert prog[-1]["frame"] == 3 and prog[-1]["total"] == 3 and {"fps", "eta", "percent"} <= set(prog[-1])
    assert prog[-1]["speed"] > 0  # video seconds per second (FFmpeg's speed=), in batches too
    assert "1 done, 0 skipped, 1 failed" in captured.err  # the summary stays off stdout


def test_another_batch_on_the_same_outdir_is_refused(tmp_path):
    from vsr.batch.state import OutdirLock
    from vsr.errors import UsageError

    write_clip(tmp_path / "a.mp4", 32, 24, frames=2)
    with OutdirLock(tmp_path / "out"):
        child = subprocess.run([sys.executable, "-m", "vsr", "batch", str(tmp_path / "a.mp4"), "-d",
                                str(tmp_path / "out"), "--progress", "none"], capture_output=True, text=True)
        assert child.returncode == 2 and "another vsr batch" in child.stderr
    with pytest.raises(UsageError):
        with OutdirLock(tmp_path / "out"), OutdirLock(tmp_path / "out"):
            pass


def test_plan_batch_api(mixed, tmp_path):
    items = plan_batch([mixed], tmp_path / "out", codec="ffv1")
    assert [(Path(i.name).name, i.action) for i in items] == [
        ("a.mp4", "upscale"), ("bad.mp4", "fail"), ("b.mkv", "upscale"), ("cut.mp4", "fail"), ("c.mov", "upscale")]
    assert items[0].dst == tmp_path / "out" / "a.mp4"  # the input's own container by default


def test_kill_9_then_rerun_finishes_only_what_is_missing(tmp_path):
    """SIGKILL a batch part-way: no half file is ever visible at a destination; a rerun
    removes the partial files and completes the rest.

    Race-free on any CPU: the third input comes from a TCP server that sends its job half the
    file and then holds the connection, so the batch sits inside that job (two files done, a
    partial written, two not started) until the kill, however fast or slow the machine.
    """
    src, out = tmp_path / "in", tmp_path / "out"
    n, frames = 5, 24
    files = [write_clip(src / f"clip{i}.mp4", 96, 72, frames=frames) for i in range(n - 1)]
    fed = write_video(tmp_path / "fed.mkv", frames=48, size=(96, 72))
    data = fed.path.read_bytes()
    release = threading.Event()

    def hold_the_job(index: int) -> None:  # connection 0: the plan's probe (first frame); 1: the job
        if index == 1:
            release.wait(240)

    with tcp_feeder(data, lambda i: data[: len(data) // 2] if i == 1 else None, hold_the_job) as url:
        fed_out = out / f"{url_name(url)}.mkv"
        cmd = [sys.executable, "-m", "vsr", "batch", *map(str, files[:2]), url, *map(str, files[2:]), "-d", str(out),
               "--codec", "ffv1", "--container", "mkv", "--progress", "none", "--threads", "1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        checked: set[Path] = set()
        deadline = time.monotonic() + 240
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                for f in _visible(out) if out.exists() else []:  # every visible output is whole, always
                    if f.suffix == ".mkv" and f not in checked:
                        assert frame_count(f) == frames, f"{f} is visible but incomplete"
                        checked.add(f)
                if out.exists() and any(p.name.startswith(f".{fed_out.name}") for p in _partials(out)):
                    # the held job has written frames: it stays there, with the two before it done
                    break
                time.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            release.set()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
        finished = sorted(f.name for f in _visible(out) if f.suffix == ".mkv")
        assert finished == ["clip0.mkv", "clip1.mkv"]  # in argument order, one job at a time
        for name in finished:
            assert frame_count(out / name) == frames
        left = _partials(out)
        assert len(left) == 1 and left[0].name.startswith(f".{fed_out.name}") and not fed_out.exists()

        assert main(cmd[3:] + ["--report", str(tmp_path / "r.json")]) == 0  # the rerun, in this process
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["failed"] == 0
    assert summary["skipped"] == len(finished)  # finished files are not redone
    assert summary["done"] == n - len(finished)
    assert not _partials(out) and not any(p.exists() for p in left)
    for i in range(n - 1):
        assert frame_count(out / f"clip{i}.mkv") == frames
    assert frame_count(fed_out) == 48


def test_a_bug_on_one_file_is_an_internal_error_not_a_bad_input(tmp_path, monkeypatch, caplog):
    """A bad input is ``failed``; an exception vsr did not raise on purpose is ``failed`` too (the
    batch goes on) but marked ``internal``: one line in the progress display, the traceback only in
    the debug log (-vv). The bars end at the frames really written, not at the estimate."""
    import io
    import logging

    import vsr.pipeline
    from vsr.batch.progress import BarReporter

    src, out = tmp_path / "in", tmp_path / "out"
    write_clip(src / "a.mp4", 32, 24, frames=3)
    write_clip(src / "b.mp4", 32, 24, frames=3)
    write_clip(src / "c.mp4", 32, 24, frames=4)
    write_text(src / "bad.mp4")
    real = vsr.pipeline.upscale_video

    def buggy(source, *args, progress=None, **kwargs):
        name = Path(source).name
        if name == "a.mp4":
            raise ZeroDivisionError("division by zero")  # stands for a bug inside vsr
        if name == "c.mp4":  # a bug after two frames were encoded and reported: they are never kept
            def progress_then_bug(p):
                progress(p)
                if p.frames >= 2:
                    raise ZeroDivisionError("division by zero")
            return real(source, *args, progress=progress_then_bug, **kwargs)
        return real(source, *args, progress=progress, **kwargs)

    monkeypatch.setattr(vsr.pipeline, "upscale_video", buggy)
    screen = io.StringIO()
    bars = BarReporter(screen, jobs=1)
    with caplog.at_level(logging.DEBUG, logger="vsr"):
        results = {Path(r.input).name: r for r in upscale_batch([src], out, codec="ffv1", container="mkv",
                                                                  progress=bars)}
    assert results["b.mp4"].status == "done"
    for name in ("a.mp4", "c.mp4"):
        r = results[name]
        assert r.status == "failed" and r.internal
        assert r.reason == "internal error (a bug in vsr or a library: rerun with -vv for the traceback and " \
                           "please report it): division by zero"
    assert results["bad.mp4"].status == "failed" and not results["bad.mp4"].internal
    text = screen.getvalue()
    assert "Traceback" not in text and "ZeroDivisionError" not in text
    failed_lines = [x for x in text.replace("\r", "\n").splitlines() if x.startswith("failed: ")]
    assert len(failed_lines) == 3 and any(x.startswith(f"failed: {src / 'c.mp4'}: internal error") for x in failed_lines)
    # the traceback is in the debug log only, never at a level shown without -vv
    assert any(r.levelno == logging.DEBUG and r.exc_info for r in caplog.records)
    assert not any(r.levelno > logging.DEBUG and r.exc_info for r in caplog.records)
    # true counts: only b.mp4's 3 frames were written
    assert bars.counts.frames_done() == bars.counts.frames_total == 3
    assert bars._overall.n == bars._overall.total == 3
