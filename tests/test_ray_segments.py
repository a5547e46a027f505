"""Segments as Ray tasks: ``vsr upscale --segments N --ray`` and ``vsr batch --ray --split-longer-than``,
on a local Ray with 2 CPUs started here (one per module: Ray takes seconds to start).

A worker is killed mid-segment deterministically: every worker of this Ray runs a setup hook
that wraps the part runner; when the test has left a marker file for segment K, the worker
computing K removes the marker and SIGKILLs itself after its second encoded frame (the
part's partial file is then open, half written). Ray runs the task again on a new worker,
which finds no marker and computes the segment.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import pytest

from media import packets, write_clip, write_video
from vsr.cli import main
from vsr.output import PARTIAL_TAG
from vsr.segments.work import WorkDir

ray = pytest.importorskip("ray")

COMMON = ["--codec", "ffv1", "--backend", "onnxruntime", "--threads", "1"]


@pytest.fixture(scope="module")
def local_ray():
    def setup() -> None:  # defined in a function, so Ray sends it to the workers by value
        import os
        import signal

        import vsr.segments.part as part

        real = part.run_part

        def run_part(src, work, plan, index, cfg, print_, *, progress=None, **kw):
            marker = work.dst.parent / f"kill-{work.dst.name}-segment-{index}"
            try:
                marker.rename(marker.with_name(marker.name + ".fired"))  # once: the rerun computes it
            except FileNotFoundError:
                return real(src, work, plan, index, cfg, print_, progress=progress, **kw)

            def die(p) -> None:
                if p.frames >= 2:
                    os.kill(os.getpid(), signal.SIGKILL)

            return real(src, work, plan, index, cfg, print_, progress=die, **kw)

        part.run_part = run_part

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"worker_process_setup_hook": setup})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def gop_mkv(tmp_path_factory) -> Path:
    """H.264 MKV, 32x24, 40 frames (1.6 s), a keyframe every 10, AAC audio."""
    path = tmp_path_factory.mktemp("rayseg") / "gop.mkv"
    write_video(path, size=(32, 24), frames=40, options={"g": "10", "keyint_min": "10", "sc_threshold": "0", "bf": "0"},
                audio=True)
    return path


def _frames(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray().tobytes()) for f in c.decode(video=0)]


def _arm(dst: Path, index: int) -> Path:
    """Make the worker that computes segment ``index`` of ``dst`` kill itself once; returns the
    file that says it did."""
    marker = dst.parent / f"kill-{dst.name}-segment-{index}"
    marker.touch()
    return marker.with_name(marker.name + ".fired")


@pytest.fixture(scope="module")
def local_segmented(gop_mkv, tmp_path_factory) -> Path:
    """The same file upscaled in 4 segments in this process, without Ray."""
    out = tmp_path_factory.mktemp("local") / "local.mkv"
    assert main(["upscale", str(gop_mkv), "-o", str(out), "--segments", "4", "--progress", "none", *COMMON]) == 0
    return out


def test_segments_on_ray_equal_a_local_segmented_run(local_ray, gop_mkv, local_segmented, tmp_path, capsys):
    out = tmp_path / "ray.mkv"
    assert main(["upscale", str(gop_mkv), "-o", str(out), "--segments", "4", "--progress", "json", *COMMON,
                 "--ray"]) == 0
    assert _frames(out) == _frames(local_segmented) and len(_frames(out)) == 40  # pixel-equal, same timestamps
    assert packets(out, "audio") == packets(gop_mkv, "audio")
    assert not WorkDir(out).path.exists()
    captured = capsys.readouterr()
    summary = captured.err.strip().splitlines()[-1]  # the parts' stats came back from the workers:
    assert "4 segments (4 computed, 0 reused)" in summary and "onnxruntime" in summary and "ffv1" in summary
    lines = [json.loads(x) for x in captured.out.splitlines()]
    progress = [e for e in lines if e["event"] == "progress"]
    assert progress and all(e["total"] == 40 and e["segment"] in range(4) for e in progress)
    assert [e["frame"] for e in progress] == sorted(e["frame"] for e in progress)  # frames across segments


def test_a_time_range_in_segments_on_ray_equals_the_range_in_one_run(local_ray, gop_mkv, tmp_path):
    one, out = tmp_path / "one.mkv", tmp_path / "ray.mkv"
    rng = ["--start", "0.3", "--end", "1.45", "--progress", "none", *COMMON]
    assert main(["upscale", str(gop_mkv), "-o", str(one), *rng]) == 0
    assert main(["upscale", str(gop_mkv), "-o", str(out), "--segments", "3", "--ray", *rng]) == 0
    assert _frames(out) == _frames(one) and len(_frames(out)) == 29  # pixel-equal, same timestamps
    assert packets(out, "audio") == packets(one, "audio") and not WorkDir(out).path.exists()


def test_batch_splits_the_time_range_of_a_long_file(local_ray, gop_mkv, tmp_path):
    """``--start/--end`` in a Ray batch: the range's length decides the split (1.15 s > 1 s), the
    joined file equals the range in one run."""
    out, report, one = tmp_path / "out", tmp_path / "r.json", tmp_path / "one.mkv"
    rng = ["--start", "0.3", "--end", "1.45", "--progress", "none", *COMMON]
    assert main(["batch", str(gop_mkv), "-d", str(out), "--container", "mkv", "--report", str(report), "--ray",
                 "--split-longer-than", "1", "--segments", "3", *rng]) == 0
    [f] = json.loads(report.read_text())["files"]
    assert (f["status"], f["segments"], f["frames"]) == ("done", 3, 29)
    assert main(["upscale", str(gop_mkv), "-o", str(one), *rng]) == 0
    assert _frames(out / "gop.mkv") == _frames(one) and packets(out / "gop.mkv", "audio") == packets(one, "audio")


def test_a_killed_worker_s_segment_is_retried(local_ray, gop_mkv, local_segmented, tmp_path):
    out = tmp_path / "killed.mkv"
    fired = _arm(out, 2)
    assert main(["upscale", str(gop_mkv), "-o", str(out), "--segments", "4", "--progress", "none", *COMMON,
                 "--ray", "--ray-max-retries", "2"]) == 0
    assert fired.exists(), "the worker of segment 2 was not killed"
    assert _frames(out) == _frames(local_segmented)  # complete: the segment was computed again
    assert not WorkDir(out).path.exists()  # the dead worker's partial part went with the work folder


def test_a_segment_that_keeps_dying_fails_in_one_line(local_ray, gop_mkv, tmp_path, capsys):
    out = tmp_path / "dies.mkv"
    fired = _arm(out, 1)
    assert main(["upscale", str(gop_mkv), "-o", str(out), "--segments", "4", "--progress", "none", *COMMON,
                 "--ray", "--ray-max-retries", "0"]) == 1
    err = [x for x in capsys.readouterr().err.strip().splitlines() if "(raylet)" not in x]  # Ray's own notes
    assert fired.exists() and not out.exists()
    assert len(err) == 1 and "segment 1" in err[0] and "Traceback" not in err[0], err
    # the three finished parts stay: the same command again computes only segment 1
    assert sorted(p.name for p in WorkDir(out).path.glob("part-*.json")) == [
        "part-00000.json", "part-00002.json", "part-00003.json"]
    assert main(["upscale", str(gop_mkv), "-o", str(out), "--segments", "4", "--progress", "none", *COMMON,
                 "--ray"]) == 0
    assert "(1 computed, 3 reused)" in capsys.readouterr().out
    assert len(_frames(out)) == 40


def _batch(gop_mkv: Path, tmp_path: Path, kill: int, *extra: str) -> tuple[list[str], Path, Path, Path, Path]:
    """A folder with a long file (the 40-frame clip, split into 4) and a short one, the worker of
    the long file's segment ``kill`` armed; returns ``(vsr batch arguments, in, out, report,
    the file that says the worker was killed)``."""
    src, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "report.json"
    src.mkdir()
    (src / "long.mkv").write_bytes(gop_mkv.read_bytes())
    write_clip(src / "short.mp4", 32, 24, frames=3)
    out.mkdir()
    args = ["batch", str(src), "-d", str(out), "--container", "mkv", "--report", str(report), *COMMON, "--ray",
            "--split-longer-than", "1", "--segments", "4", *extra]
    return args, src, out, report, _arm(out / "long.mkv", kill)


def _files(report: Path) -> dict[str, dict]:
    return {Path(f["input"]).name: f for f in json.loads(report.read_text())["files"]}


def test_batch_splits_a_long_file_into_segment_tasks(local_ray, gop_mkv, tmp_path, capsys):
    args, src, out, report, fired = _batch(gop_mkv, tmp_path, 3, "--progress", "json")
    assert main(args) == 0
    assert fired.exists()  # the killed segment task was retried
    files = _files(report)
    assert (files["long.mkv"]["status"], files["long.mkv"]["segments"], files["long.mkv"]["frames"]) == ("done", 4, 40)
    assert (files["short.mp4"]["status"], files["short.mp4"]["segments"]) == ("done", 0)
    assert files["long.mkv"]["backend"] == files["short.mp4"]["backend"] == "onnxruntime"
    local = tmp_path / "whole.mkv"
    assert main(["upscale", str(gop_mkv), "-o", str(local), "--progress", "none", *COMMON]) == 0
    assert _frames(out / "long.mkv") == _frames(local)  # joined: pixel-equal to an unsegmented run
    assert not WorkDir(out / "long.mkv").path.exists()
    assert not [p for p in out.rglob("*") if PARTIAL_TAG in p.name]
    # (Ray's raylet prints its own note about the killed worker on the driver's stdout)
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    mine = [e for e in events if e.get("file") == str(src / "long.mkv")]
    assert mine[-1]["event"] == "file" and all(e["event"] == "progress" for e in mine[:-1])
    assert all(e["total"] == 40 and e["frame"] <= 40 and e["segment"] in range(4) for e in mine[:-1])
    # the journal calls the file done only after its join: a second run skips both
    assert main(args) == 0
    assert json.loads(report.read_text())["summary"] == {"total": 2, "done": 0, "skipped": 2, "failed": 0}


def test_batch_file_whose_segment_fails_is_failed_then_resumed(local_ray, gop_mkv, tmp_path, caplog):
    """A segment whose worker dies with no retries left fails its file only; the next run of the
    same batch reuses the file's finished segments and computes the failed one."""
    args, _, out, report, fired = _batch(gop_mkv, tmp_path, 1, "--progress", "none", "--ray-max-retries", "0")
    assert main(args) == 1
    files = _files(report)
    assert fired.exists() and not (out / "long.mkv").exists()
    assert files["long.mkv"]["status"] == "failed" and "segment 1" in files["long.mkv"]["reason"]
    assert files["short.mp4"]["status"] == "done"
    work = WorkDir(out / "long.mkv").path
    assert sorted(p.name for p in work.glob("part-*.json")) == ["part-00000.json", "part-00002.json",
                                                                 "part-00003.json"]
    with caplog.at_level(logging.INFO, logger="vsr.batch.split"):
        assert main(args) == 0  # the marker is spent: segment 1 is computed, the three others reused
    assert "long.mkv: reusing 3 finished segment(s) of 4" in caplog.text
    files = _files(report)
    assert (files["long.mkv"]["status"], files["long.mkv"]["frames"]) == ("done", 40)
    assert files["short.mp4"]["status"] == "skipped"
    assert len(_frames(out / "long.mkv")) == 40 and not work.exists()


def test_tasks_size_their_cpu_threads_to_the_cpus_ray_gave_them(local_ray):
    """Ray pins no cores: a task's automatic inference parallelism follows its num_cpus, not the node's."""
    from vsr.config import BackendConfig, UpscaleConfig
    from vsr.segments.ray import fit_to_task

    def chosen(cfg):
        b = fit_to_task(cfg).backend
        return b.workers, b.threads

    probe = ray.remote(chosen)
    assert ray.get(probe.options(num_cpus=1).remote(UpscaleConfig())) == (1, 1)
    assert ray.get(probe.options(num_cpus=2).remote(UpscaleConfig())) == (2, 1)
    given = UpscaleConfig(backend=BackendConfig(threads=3))
    assert ray.get(probe.options(num_cpus=1).remote(given)) == (0, 3)  # what the user gave is kept
