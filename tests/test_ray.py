"""vsr batch --ray on a local Ray instance with 2 CPUs (one per module: Ray takes seconds to start)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from media import frame_count, write_clip, write_text
from vsr.cli import main
from vsr.media.probe import probe
from vsr.output import PARTIAL_TAG

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_batch_same_results_and_exit_code(local_ray, tmp_path, capsys):
    src, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "report.json"
    write_clip(src / "a.mp4", 64, 48, frames=3)
    write_clip(src / "sub" / "b.mp4", 48, 32, frames=2)
    write_text(src / "broken.mp4")
    args = ["batch", str(src), "-d", str(out), "--codec", "ffv1", "--container", "mkv", "--progress", "json",
            "--threads", "1", "--report", str(report), "--ray", "--ray-cpus-per-task", "1"]
    assert main(args) == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(e["file"] for e in events if e["event"] == "file") == sorted(
        str(p) for p in (src / "a.mp4", src / "sub" / "b.mp4", src / "broken.mp4"))
    last = [e for e in events if e["event"] == "batch"][-1]
    assert (last["done"], last["failed"], last["percent"]) == (2, 1, 100.0)
    # per-file progress streams back from the workers, each file's before its "file" line
    for name, frames in ((src / "a.mp4", 3), (src / "sub" / "b.mp4", 2)):
        lines = [(i, e) for i, e in enumerate(events) if e.get("file") == str(name)]
        progress = [e for _, e in lines if e["event"] == "progress"]
        assert progress and all(e["total"] == frames and 1 <= e["frame"] <= frames for e in progress)
        assert lines[-1][1]["event"] == "file" and all(e["event"] == "progress" for _, e in lines[:-1])
    data = json.loads(report.read_text())
    by_name = {Path(f["input"]).name: f for f in data["files"]}
    assert {n: f["status"] for n, f in by_name.items()} == {"a.mp4": "done", "b.mp4": "done", "broken.mp4": "failed"}
    assert by_name["a.mp4"]["input"] == str(src / "a.mp4")  # reported as given, not as the worker saw it
    assert (probe(out / "a.mkv").width, probe(out / "sub" / "b.mkv").height) == (128, 64)
    assert frame_count(out / "a.mkv") == 3 and frame_count(out / "sub" / "b.mkv") == 2
    assert not [p for p in out.rglob("*") if PARTIAL_TAG in p.name]
    # the same resume rules: a second run skips what is done
    assert main(args) == 1
    assert json.loads(report.read_text())["summary"] == {"total": 3, "done": 0, "skipped": 2, "failed": 1}


def test_ray_retries_a_task_whose_worker_died(local_ray, tmp_path):
    """kill -9 the worker while it writes: Ray runs the task again; the output ends up whole."""
    src, out = tmp_path / "in", tmp_path / "out"
    frames = 60
    write_clip(src / "long.mp4", 128, 96, frames=frames)
    killed: list[int] = []
    stop = threading.Event()

    def kill_the_writer() -> None:
        while not stop.is_set() and not killed:
            for p in out.glob(f".*{PARTIAL_TAG}-*") if out.exists() else []:
                pid = int(p.name.split(PARTIAL_TAG + "-")[1].split(".")[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_the_writer, daemon=True)
    watcher.start()
    try:
        code = main(["batch", str(src), "-d", str(out), "--codec", "ffv1", "--container", "mkv", "--progress",
                     "none", "--threads", "1", "--ray", "--ray-max-retries", "2", "--report", str(tmp_path / "r.json")])
    finally:
        stop.set()
        watcher.join()
    assert killed, "the worker finished before it could be killed"
    assert code == 0
    [f] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert f["status"] == "done" and f["frames"] == frames
    assert frame_count(out / "long.mkv") == frames
    assert not [p for p in out.rglob("*") if PARTIAL_TAG in p.name]  # the dead worker's partial is cleaned up
