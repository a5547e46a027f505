"""Segmented runs (``--segments``): their overhead, a resume after kill -9, and planning time.

Three measurements in one run, each through the ``vsr`` command in a fresh process (so model
loading and start-up count the same on both sides):

1. ``vsr upscale CLIP`` against ``vsr upscale CLIP --segments 8`` on a generated clip of
   ``--frames`` frames (default 1,500): the overhead of cutting, part files, checksums and join.
2. ``vsr upscale CLIP --segments 8`` killed with SIGKILL once its progress passes ``--kill-at``
   (default 60 %), then the same command again: the rerun's time against the whole run's.
3. The keyframe scan of ``vsr segments plan`` on a generated two-hour file (172,800 frames at
   24 fps, a keyframe every 2 s; its packets are tiny, so this is the demuxer's per-packet
   cost: a real film's scan also reads its bytes once, at the disk's speed).

    python -m tools.bench_segments                       # 1,500 frames 320x180, ESPCN x2, CPU
    python -m tools.bench_segments --frames 300 --hours 0.5   # a quick look
    python -m tools.bench_segments --plan-only 20000     # plan two hours with a film's bytes, MP4 and MKV

Timings belong here, not in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_clip(path: Path, frames: int, width: int, height: int, gop: int) -> Path:
    """H.264 with moving structure, a keyframe every ``gop`` frames, AAC audio."""
    rng = np.random.default_rng(0)
    base = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.codec_context.options = {"preset": "veryfast", "crf": "20", "g": str(gop), "keyint_min": str(gop)}
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
        samples = 0
        for i in range(frames):
            img = np.roll(base, shift=(2 * i, 3 * i), axis=(0, 1))
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
            while samples < (i + 1) * 2000:  # 48000 / 24 samples per frame
                af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, samples
                samples += 1024
                for p in a.encode(af):
                    out.mux(p)
        for stream in (s, a):
            for p in stream.encode(None):
                out.mux(p)
    return path


def make_long(path: Path, hours: float, gop: int = 48, packet_bytes: int = 0) -> int:
    """A ``hours``-long 24 fps H.264 MP4 made by repeating the packets of a short 64x48 clip
    (padded with zeros to ``packet_bytes`` each when given: a film's bytes for the scan to read;
    the padding is never decoded)."""
    short = path.with_name("short.mp4")
    make_clip(short, gop * 5, 64, 48, gop)
    with av.open(str(short)) as c:
        v = c.streams.video[0]
        pkts = [(bytes(p), p.pts, p.dts, p.is_keyframe) for p in c.demux(v) if p.size]
        tb = v.time_base
        period = round(Fraction(len(pkts), 24) / tb)
        frames = round(hours * 3600 * 24)
        with av.open(str(path), "w") as out:
            o = out.add_stream_from_template(v)
            n = 0
            while n < frames:
                for data, pts, dts, key in pkts:
                    q = av.Packet(data.ljust(packet_bytes, b"\0"))
                    q.pts, q.dts = pts + (n // len(pkts)) * period, dts + (n // len(pkts)) * period
                    q.time_base, q.is_keyframe, q.stream = tb, key, o
                    out.mux(q)
                    n += 1
                    if n == frames:
                        break
    short.unlink()
    return frames


JOINS: list[float] = []  # the join's seconds, from each segmented run's summary line
CPU: list[float] = []  # CPU seconds (user + system) of each run, its own process's: less sensitive to a busy machine


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def vsr(*args: str, **kw) -> float:
    t, c = time.perf_counter(), _children_cpu()
    out = subprocess.run([sys.executable, "-m", "vsr", *args], check=True, stdout=subprocess.PIPE, text=True,
                         **kw).stdout
    CPU.append(_children_cpu() - c)
    m = re.search(r"join ([0-9.]+) s", out)
    if m:
        JOINS.append(float(m[1]))
    return time.perf_counter() - t


def killed_run(args: list[str], at: float) -> float:
    """Start ``vsr`` with JSON progress and SIGKILL it once ``percent`` reaches ``at``; returns the percent."""
    proc = subprocess.Popen([sys.executable, "-m", "vsr", *args, "--progress", "json"], stdout=subprocess.PIPE,
                            text=True)
    pct = 0.0
    for line in proc.stdout:
        if line.startswith("{"):
            pct = json.loads(line).get("percent") or 0.0
            if pct >= at:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return pct


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--segments", type=int, default=8)
    ap.add_argument("--kill-at", type=float, default=60.0, help="percent of the segmented run to kill at")
    ap.add_argument("--repeat", type=int, default=1, help="whole and segmented runs, alternating (medians)")
    ap.add_argument("--hours", type=float, default=2.0, help="length of the generated file to plan")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--plan-only", type=int, default=0, metavar="BYTES",
                    help="only time the plan of --hours files (MP4 and MKV) whose packets are padded to BYTES each "
                         "(20000: about 3.8 Mbit/s, a film's rate)")
    a = ap.parse_args(argv)
    width, height = map(int, a.size.split("x"))
    opts = ["--backend", a.backend, "--overwrite", "--progress", "none"]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?") if Path("/proc/cpuinfo").exists() else "?"
    print(f"CPU: {cpu}, {os.cpu_count()} logical; load average at start: {os.getloadavg()[0]:.1f}")
    if a.plan_only:
        return plan_times(a.hours, a.plan_only)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        clip = make_clip(d / "clip.mp4", a.frames, width, height, 48)
        whole, seg, cpu_whole, cpu_seg = [], [], [], []
        for _ in range(a.repeat):
            whole.append(vsr("upscale", str(clip), "-o", str(d / "whole.mkv"), *opts))
            cpu_whole.append(CPU[-1])
            seg.append(vsr("upscale", str(clip), "-o", str(d / "seg.mkv"), "--segments", str(a.segments), *opts))
            cpu_seg.append(CPU[-1])
        tw, ts = statistics.median(whole), statistics.median(seg)
        cw, cs = statistics.median(cpu_whole), statistics.median(cpu_seg)
        print(f"clip: {a.frames} frames {a.size}, ESPCN x2 on {a.backend}, libx264")
        print(f"unsegmented: {tw:.1f} s; {a.segments} segments: {ts:.1f} s; overhead {100 * (ts / tw - 1):+.1f} % "
              f"(runs: {', '.join(f'{x:.1f}' for x in whole)} / {', '.join(f'{x:.1f}' for x in seg)}; "
              f"join {statistics.median(JOINS):.2f} s)")
        print(f"CPU time: unsegmented {cw:.1f} s; {a.segments} segments {cs:.1f} s; overhead {100 * (cs / cw - 1):+.1f} % "
              f"(runs: {', '.join(f'{x:.1f}' for x in cpu_whole)} / {', '.join(f'{x:.1f}' for x in cpu_seg)})")
        out = d / "killed.mkv"
        run = ["upscale", str(clip), "-o", str(out), "--segments", str(a.segments), "--backend", a.backend]
        pct = killed_run(run, a.kill_at)
        done = len(list((d / f".{out.name}.vsr-segments").glob("part-*.json")))
        tr = vsr(*run, "--progress", "none")
        print(f"killed at {pct:.1f} % with {done} of {a.segments} parts finished; rerun: {tr:.1f} s = "
              f"{100 * tr / tw:.1f} % of the unsegmented run (its unfinished share: {100 * (1 - done / a.segments):.1f} %); "
              f"CPU time {CPU[-1]:.1f} s = {100 * CPU[-1] / cw:.1f} % of the unsegmented run's")
        long = d / "long.mp4"
        frames = make_long(long, a.hours)
        mb = long.stat().st_size / 1e6
        t = vsr("segments", "plan", str(long), "-o", str(d / "long-out.mkv"), "--segments", "auto",
                "--backend", a.backend)
        from vsr.media.keyframes import scan_keyframes

        t0 = time.perf_counter()
        scan = scan_keyframes(long)
        scan_s = time.perf_counter() - t0
        print(f"plan of a {a.hours:g} h file ({frames} frames, {len(scan.keyframes)} keyframes, {mb:.0f} MB): "
              f"keyframe scan {scan_s:.2f} s; 'vsr segments plan --segments auto' {t:.2f} s (process start included)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def plan_times(hours: float, packet_bytes: int) -> None:
    """The keyframe scan and plan of a ``hours``-long file with a film's bytes, as MP4 (its
    sample index: only the cut keyframes are read) and as Matroska (demuxed once; the file was
    just written, so this is the page cache's read rate, an upper bound for a disk)."""
    from vsr.media.keyframes import scan_keyframes
    from vsr.segments.plan import plan_segments

    with tempfile.TemporaryDirectory() as tmp:
        for suffix in ("mp4", "mkv"):
            long = Path(tmp) / f"long.{suffix}"
            frames = make_long(long, hours, packet_bytes=packet_bytes)
            gb = long.stat().st_size / 1e9
            t0 = time.perf_counter()
            scan = scan_keyframes(long)
            plan = plan_segments(long, "auto", scan)
            t = time.perf_counter() - t0
            how = ("sample index, only the cut keyframes read" if scan.positions is not None
                   else f"demuxed at {gb * 1000 / t:.0f} MB/s")
            print(f"plan of a {hours:g} h {suffix} ({frames} frames, {len(scan.keyframes)} keyframes, {gb:.2f} GB) "
                  f"into {len(plan.segments)} segments: {t:.2f} s ({how})")
            long.unlink()


if __name__ == "__main__":
    main()
