"""Batch throughput: N files at once (``--jobs N``, one shared backend) against one at a time.

Runs the same set of clips with ``jobs=1`` and ``jobs=N``, alternating, a few times each,
and prints the median wall-clock time of each and their ratio (the speed-up of N jobs).
The model is loaded once before timing (shared by every run), so the numbers are the
steady-state throughput of decode + upscale + encode.

    python -m tools.bench_batch                          # 8 generated 320x180 clips, jobs 1 vs 4
    python -m tools.bench_batch --jobs 8 --device cuda --backend torch --clips 16 --size 640x360
    python -m tools.bench_batch --inputs some/folder     # your own files instead of generated ones

Timings belong here, not in tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from vsr.models import DEFAULT_MODEL


def make_clips(folder: Path, count: int, width: int, height: int, frames: int) -> list[Path]:
    """``count`` H.264 clips with moving structure (not flat frames, which encode unrealistically fast)."""
    rng = np.random.default_rng(0)
    base = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    paths = []
    for c in range(count):
        path = folder / f"clip{c:02d}.mp4"
        with av.open(str(path), "w") as out:
            s = out.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = width, height, "yuv420p"
            s.codec_context.options = {"preset": "veryfast", "crf": "20"}
            for i in range(frames):
                img = np.roll(base, shift=(2 * i + c, 3 * i), axis=(0, 1))
                f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
                f.pts = i
                for p in s.encode(f):
                    out.mux(p)
            for p in s.encode(None):
                out.mux(p)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=4, help="jobs to compare with 1 (default 4)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each (default 3; the median is reported)")
    ap.add_argument("--inputs", nargs="*", help="files/folders to use instead of generated clips")
    ap.add_argument("--clips", type=int, default=8, help="generated clips (default 8)")
    ap.add_argument("--size", default="320x180", help="generated clip size (default 320x180)")
    ap.add_argument("--frames", type=int, default=48, help="frames per generated clip (default 48)")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="backend CPU threads (0: the runtime's default)")
    ap.add_argument("--codec", default="libx264")
    ap.add_argument("--preset", default="veryfast")
    args = ap.parse_args(argv)

    from vsr.batch import BackendPool, plan_batch, run_batch
    from vsr.config import BackendConfig, EncodeConfig, ModelConfig, UpscaleConfig

    cfg = UpscaleConfig(model=ModelConfig(args.model, args.scale),
                        backend=BackendConfig(args.backend, args.device, threads=args.threads),
                        encode=EncodeConfig(args.codec, preset=args.preset))
    with tempfile.TemporaryDirectory(prefix="vsr-bench-batch-") as tmp:
        tmp_path = Path(tmp)
        if args.inputs:
            inputs = list(args.inputs)
        else:
            w, h = (int(v) for v in args.size.lower().split("x"))
            (tmp_path / "in").mkdir()
            inputs = [str(p) for p in make_clips(tmp_path / "in", args.clips, w, h, args.frames)]
        pool = BackendPool()
        items = plan_batch(inputs, tmp_path / "plan", cfg)
        todo = [i for i in items if i.action == "upscale"]
        if not todo:
            print("no input to upscale", file=sys.stderr)
            return 2
        pool.release(pool.get(todo[0].config)[0])  # load once, outside the timings
        frames = sum(i.info.frames for i in todo)
        times: dict[int, list[float]] = {1: [], args.jobs: []}
        for run in range(args.runs):
            for jobs in (1, args.jobs) if run % 2 == 0 else (args.jobs, 1):
                outdir = tmp_path / f"out-{run}-{jobs}"
                planned = [replace(i, dst=outdir / i.dst.relative_to(tmp_path / "plan")) for i in todo]
                t0 = time.perf_counter()
                results = run_batch(planned, outdir, jobs=jobs, pool=pool)
                times[jobs].append(time.perf_counter() - t0)
                failed = [r for r in results if r.status == "failed"]
                if failed:
                    print(f"failed: {failed[0].input}: {failed[0].reason}", file=sys.stderr)
                    return 1
        pool.close()
    net = todo[0].config
    print(f"{len(todo)} files, {frames} frames, {net.model.name} x{net.model.scale}, backend {args.backend} on "
          f"{args.device}, {args.codec} {args.preset}, median of {args.runs} runs")
    for jobs, ts in times.items():
        med = statistics.median(ts)
        print(f"  jobs {jobs:>2}: {med:7.2f} s  {frames / med:8.1f} frames/s   runs: "
              + ", ".join(f"{t:.2f}" for t in ts))
    ratio = statistics.median(times[1]) / statistics.median(times[args.jobs])
    print(f"  speed-up of {args.jobs} jobs over 1: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
