"""Segments on Ray: what Ray adds to a segmented run, and what a second worker gains, on one machine.

Every run is the ``vsr`` command in a fresh process on the same generated clip (``make_clip`` of
:mod:`tools.bench_segments`), so start-up, model loading and, for Ray, starting a local Ray and
its workers count as a user would see them:

1. ``--segments S`` in this process, one segment after another (the local segmented run);
2. ``--segments S --ray --ray-cpus-per-task C``, C the machine's CPUs: one task at a time, so
   the difference from 1 is Ray's own cost (its start, a worker's start and model load, the
   scheduling of S tasks);
3. the same with ``--segments 2``: against 2, the cost of each extra segment;
4. ``--segments S --ray --ray-cpus-per-task 1``: one task per CPU at once (on one machine this
   trades threads inside a task for tasks; on a cluster each node adds its own CPUs).

    python -m tools.bench_ray                      # 600 frames 320x180, 8 segments, 3 runs each
    python -m tools.bench_ray --frames 240 --repeat 1   # a quick look

The runs alternate (1, 2, 3, 4, 1, 2 ...) and each figure is the median of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from tools.bench_segments import make_clip, vsr


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--segments", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", default="onnxruntime")
    a = ap.parse_args(argv)
    width, height = map(int, a.size.split("x"))
    cpus = os.cpu_count() or 1
    opts = ["--backend", a.backend, "--overwrite", "--progress", "none"]
    runs = {
        f"local, {a.segments} segments": ["--segments", str(a.segments)],
        f"Ray, {a.segments} segments, 1 task at a time": ["--segments", str(a.segments), "--ray",
                                                          "--ray-cpus-per-task", str(cpus)],
        "Ray, 2 segments, 1 task at a time": ["--segments", "2", "--ray", "--ray-cpus-per-task", str(cpus)],
        f"Ray, {a.segments} segments, {cpus} tasks at once": ["--segments", str(a.segments), "--ray",
                                                               "--ray-cpus-per-task", "1"],
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    env = {**os.environ, "RAY_ADDRESS": ""}  # a local Ray per run, never a cluster this node may belong to
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        clip = make_clip(d / "clip.mp4", a.frames, width, height, 48)
        for _ in range(a.repeat):
            for name, extra in runs.items():
                times[name].append(vsr("upscale", str(clip), "-o", str(d / "out.mkv"), *opts, *extra, env=env))
    med = {name: statistics.median(t) for name, t in times.items()}
    local, serial, two, wide = med.values()
    print(f"clip: {a.frames} frames {a.size}, ESPCN x2 on {a.backend}, libx264, {cpus} CPUs, "
          f"medians of {a.repeat}")
    for name, t in med.items():
        print(f"  {name}: {t:.1f} s (runs {min(times[name]):.1f} to {max(times[name]):.1f} s; "
              f"{t / local:.2f}x the local run)")
    print(f"Ray's cost on one machine: {serial - local:+.1f} s over the local run with {a.segments} segments "
          f"(its start, a worker's start and model load, the tasks); "
          f"{(serial - two) / (a.segments - 2):+.2f} s per extra segment under Ray (the part's own cost included)")
    print(f"{cpus} tasks at once against one at a time: {serial / wide:.2f}x")


if __name__ == "__main__":
    main()
