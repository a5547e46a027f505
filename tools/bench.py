"""Benchmark vsr on one clip: each stage alone, the whole pipeline, overlap, memory, and
the same job scripted by hand (ffmpeg -> raw pipe -> Python + ONNX Runtime -> raw pipe -> ffmpeg).

Example::

    python -m tools.bench ../shared/data/video/bikes.mp4 --repeat 3
    python -m tools.bench clip.mp4 --backend torch --device cuda --codec h264_nvenc
    python -m tools.bench clip_480x360.mp4 --model espcn fsrcnn --backend auto --preset veryfast --crf 20 --one-frame
    python -m tools.bench --4k clip_1080p.mp4 --model espcn fsrcnn --precision int8 bf16 --preset veryfast

Every figure is the median of ``--repeat`` runs made in this one invocation; ratios are
taken between those medians. The hand-scripted baseline needs an ``ffmpeg`` binary (PATH,
``--ffmpeg``, or the one the ``imageio-ffmpeg`` package ships).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

from vsr.devices import cpu_parallelism  # noqa: E402
from vsr.config import BackendConfig, EncodeConfig, ModelConfig, UpscaleConfig  # noqa: E402
from vsr.errors import VsrError  # noqa: E402
from vsr.media.decode import Decoder  # noqa: E402
from vsr.models import DEFAULT_MODEL  # noqa: E402
from vsr.pipeline import load_backend, upscale_video  # noqa: E402
from vsr.stages import Decode, Encode, EncodeOptions, Upscale  # noqa: E402
from vsr.models.registry import model_card  # noqa: E402
from vsr.upscale import make_upscaler  # noqa: E402


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def decode_all(path: Path) -> list:
    d = Decoder(path)
    try:
        return list(Decode(d).frames())
    finally:
        d.close()


def bench_stages(clip: Path, cfg: UpscaleConfig, repeat: int, work: Path) -> dict:
    frames = decode_all(clip)
    n = len(frames)
    out = {"frames": n, "size": [frames[0].width, frames[0].height]}
    out["decode_fps"] = n / median_time(lambda: decode_all(clip), repeat)

    loaded = load_backend(cfg.model, cfg.backend)
    backend, radius = loaded
    out["backend_used"] = f"{backend.name} on {backend.device} ({str(backend.dtype).replace('torch.', '')})"
    workers = cpu_parallelism(cfg.backend.workers, cfg.backend.threads)[0]
    up = make_upscaler(backend, radius, cfg.backend.tile, workers=workers, channels=model_card(cfg.model.name).widest)
    batch = max(1, cfg.backend.batch)
    up.upscale(frames[:batch])  # warm-up (engine build, allocator, autotuning)

    def infer():  # the pipeline's upscale stage: ``in_flight`` batches submitted
        return list(Upscale(up, batch).process(frames))

    big = infer()
    out["upscale_fps"] = n / median_time(infer, repeat)

    def encode():  # the pipeline's encode stage
        d = Decoder(clip)
        next(iter(d))  # the first frame decoded: the source is known
        Encode(work / f"enc{clip.suffix}", d, EncodeOptions(cfg.encode)).consume(big)
        d.close()

    out["encode_fps"] = n / median_time(encode, repeat)

    def pipeline():
        upscale_video(clip, work / f"e2e{clip.suffix}", cfg, loaded=loaded, overwrite=True)

    out["pipeline_fps"] = n / median_time(pipeline, repeat)
    slowest = min(out["decode_fps"], out["upscale_fps"], out["encode_fps"])
    out["overlap_efficiency"] = out["pipeline_fps"] / slowest
    # the GPU goal: the pipeline keeps up with its encoder (>= 0.9), the network never the bottleneck
    out["vs_encoder_alone"] = out["pipeline_fps"] / out["encode_fps"]
    # every stage alone uses all cores, so on a small machine they cannot all run at full
    # speed at once: the work-conserving bound is the harmonic sum of the stage speeds
    bound = 1 / sum(1 / out[k] for k in ("decode_fps", "upscale_fps", "encode_fps"))
    out["shared_core_bound_fps"] = bound
    out["efficiency_vs_bound"] = out["pipeline_fps"] / bound
    up.close()
    backend.close()
    return out


def find_ffmpeg(given: str | None) -> str | None:
    if given:
        return given
    if shutil.which("ffmpeg"):
        return shutil.which("ffmpeg")
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        return None


def hand_pipeline(ffmpeg: str, clip: Path, dst: Path, cfg: UpscaleConfig, width: int, height: int,
                  rate: Fraction) -> int:
    """What people script by hand: three processes joined by raw pipes, 8-bit 4:2:0 only."""
    import onnxruntime as ort
    import torch
    import torch.nn.functional as F

    from vsr.models.export import export_onnx
    from vsr.models.weights import create_model

    s = cfg.model.scale
    graph = export_onnx(create_model(cfg.model.name, s), subpixel=False)  # the same graph vsr runs on ORT
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    dec = subprocess.Popen([ffmpeg, "-v", "error", "-i", str(clip), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                           stdout=subprocess.PIPE)
    enc_cmd = [ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width * s}x{height * s}",
               "-r", str(rate), "-i", "-", "-c:v", cfg.encode.codec or "libx264"]
    if cfg.encode.crf is not None or not cfg.encode.codec or cfg.encode.codec == "libx264":
        enc_cmd += ["-crf", str(cfg.encode.crf if cfg.encode.crf is not None else 18)]
    if cfg.encode.preset:
        enc_cmd += ["-preset", cfg.encode.preset]
    enc = subprocess.Popen(enc_cmd + [str(dst)], stdin=subprocess.PIPE)
    ysize, csize = width * height, (width // 2) * (height // 2)
    n = 0
    while True:
        buf = dec.stdout.read(ysize + 2 * csize)
        if len(buf) < ysize + 2 * csize:
            break
        a = np.frombuffer(buf, np.uint8)
        y = a[:ysize].reshape(1, 1, height, width).astype(np.float32) / 255
        uv = torch.from_numpy(a[ysize:].reshape(1, 2, height // 2, width // 2).astype(np.float32))
        sy = session.run(None, {"y": y})[0]
        suv = F.interpolate(uv, scale_factor=s, mode="bicubic", align_corners=False)
        enc.stdin.write(np.clip(np.rint(sy * 255), 0, 255).astype(np.uint8).tobytes())
        enc.stdin.write(suv.round().clamp(0, 255).to(torch.uint8).numpy().tobytes())
        n += 1
    enc.stdin.close()
    enc.wait()
    dec.wait()
    return n


def make_loop_clip(src: Path, dst: Path, frames: int, width: int) -> None:
    """A clip of ``frames`` frames cycling through ``src``'s frames, resized to ``width`` (for RSS)."""
    import av

    pics = []
    with av.open(str(src)) as c:
        for f in c.decode(video=0):
            w = width or f.width
            h = round(f.height * w / f.width / 2) * 2
            pics.append(f.reformat(width=w, height=h, format="yuv420p"))
            if len(pics) >= 50:
                break
    with av.open(str(dst), "w") as out:
        st = out.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = pics[0].width, pics[0].height, "yuv420p"
        st.codec_context.options = {"preset": "ultrafast"}
        for i in range(frames):
            f = pics[i % len(pics)]
            f.pts = None
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)


def peak_rss_mb(clip: Path, dst: Path, cfg: UpscaleConfig) -> float:
    """Peak resident memory of ``vsr upscale`` on ``clip`` in a fresh process, MiB."""
    # VmHWM is this process image's own peak; ru_maxrss would include the parent's peak,
    # which Linux carries across fork + exec
    code = (
        "import sys; from vsr.cli import main; rc = main(sys.argv[1:]); "
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    cmd = [sys.executable, "-c", code, "upscale", str(clip), "-o", str(dst), "--overwrite", "--progress", "none",
           "--model", cfg.model.name, "--scale", str(cfg.model.scale), "--backend", cfg.backend.name,
           "--device", cfg.backend.device, "--codec", cfg.encode.codec or "libx264", "--preset",
           cfg.encode.preset or "medium"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return int(res.stdout.strip().splitlines()[-1]) / 1024


def one_frame_job(clip: Path, work: Path, cfg: UpscaleConfig, repeat: int) -> dict:
    """Wall time of a whole ``vsr upscale`` process on a one-frame clip cut from ``clip``: the
    first run (cold: nothing in the OS page cache from vsr yet, compile cache as it is) and the
    median of ``repeat`` more, plus the import time of the modules it loads (``-X importtime``)."""
    from tools.bench_clip import make_clip

    import av

    with av.open(str(clip)) as c:
        v = c.streams.video[0]
        w, h = v.codec_context.width, v.codec_context.height
    one = work / "one.mp4"
    make_clip(clip, one, 1, w, h)
    cmd = [sys.executable, "-m", "vsr", "upscale", str(one), "-o", str(work / "one_x.mp4"), "--overwrite",
           "--progress", "none", "--model", cfg.model.name, "--scale", str(cfg.model.scale), "--backend",
           cfg.backend.name, "--device", cfg.backend.device, "--codec", cfg.encode.codec or "libx264",
           "--crf", str(cfg.encode.crf), "--preset", cfg.encode.preset or "medium"]
    # as installed: bytecode written once (this sandbox sets PYTHONDONTWRITEBYTECODE, which would
    # make every run compile vsr's sources again, ~0.08 s)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPATH": str(REPO)}
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        times.append(time.perf_counter() - t)
    res = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True,
                         check=True)
    top: dict[str, float] = {}
    for line in res.stderr.splitlines():  # "import time: self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].strip()
            if "." not in name:  # top-level packages, cumulative
                top[name] = top.get(name, 0.0) + int(parts[1]) / 1e6
    heavy = dict(sorted(((k, round(v, 3)) for k, v in top.items() if v >= 0.02), key=lambda kv: -kv[1]))
    return {"one_frame_first_s": times[0], "one_frame_s": statistics.median(times[1:]), "one_frame_imports_s": heavy}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--model", nargs="+", default=[DEFAULT_MODEL],
                    help="one or more models, each measured; the hand-scripted pipe runs the first")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--tile", type=int, default=0)
    ap.add_argument("--workers", type=int, default=0, help="CPU frames at once (0: automatic)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads per frame (0: automatic)")
    ap.add_argument("--codec", default="libx264")
    ap.add_argument("--crf", type=int, default=18)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ffmpeg", help="ffmpeg binary for the hand-scripted baseline")
    ap.add_argument("--skip-hand", action="store_true")
    ap.add_argument("--one-frame", action="store_true",
                    help="also time a whole `vsr upscale` process on a one-frame clip cut from CLIP")
    ap.add_argument("--rss", action="store_true", help="also measure peak RSS for 100 vs 1500 frames")
    ap.add_argument("--rss-width", type=int, default=0, help="width of the RSS clips (0: the clip's own)")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--4k", dest="uhd", action="store_true",
                    help="4K mode (tools/bench_4k.py): CLIP to 3840x2160 with OpenVINO, end to end against "
                         "FFmpeg's bicubic + the same libx264 encode, and a stage-by-stage profile")
    ap.add_argument("--precision", nargs="+", default=["auto"], help="4K mode: OpenVINO precisions to compare")
    args = ap.parse_args(argv)
    if args.uhd:
        from tools.bench_4k import report, run

        with tempfile.TemporaryDirectory() as tmp:
            res = run(args.clip, args.model, args.precision, args.scale, args.preset, args.crf, args.repeat, Path(tmp))
        print(report(res))
        if args.json:
            args.json.write_text(json.dumps(res, indent=2) + "\n")
        return

    def config(model: str) -> UpscaleConfig:
        return UpscaleConfig(
            model=ModelConfig(model, args.scale),
            backend=BackendConfig(args.backend, args.device, args.tile, args.batch, args.threads, workers=args.workers),
            encode=EncodeConfig(args.codec, args.crf, args.preset),
        )

    cfg = config(args.model[0])
    res: dict = {"clip": args.clip.name, "model": f"{args.model[0]} x{args.scale}", "backend": args.backend,
                 "device": args.device, "codec": f"{args.codec} crf {args.crf} preset {args.preset}",
                 "cpus": os.cpu_count(), "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            res.update(bench_stages(args.clip, cfg, args.repeat, work))
            others = {m: bench_stages(args.clip, config(m), args.repeat, work) for m in args.model[1:]}
        except VsrError as e:  # no GPU, no NVENC on this GPU...: say so, as vsr itself would
            sys.exit(f"bench: {e}")
        ffmpeg = None if args.skip_hand else find_ffmpeg(args.ffmpeg)
        if ffmpeg:
            import av

            with av.open(str(args.clip)) as c:
                v = c.streams.video[0]
                w, h, rate = v.codec_context.width, v.codec_context.height, v.guessed_rate or v.average_rate
            n = [0]

            def hand():
                n[0] = hand_pipeline(ffmpeg, args.clip, work / f"hand{args.clip.suffix}", cfg, w, h, rate)

            res["hand_fps"] = res["frames"] / median_time(hand, args.repeat)
            res["speedup_vs_hand"] = res["pipeline_fps"] / res["hand_fps"]
            for stats in others.values():  # against the same hand-scripted pipe (the first model's)
                stats["speedup_vs_hand"] = stats["pipeline_fps"] / res["hand_fps"]
        for m, stats in others.items():
            res.update({f"{m}.{k}": v for k, v in stats.items() if k not in ("frames", "size")})
        if args.one_frame:
            res.update(one_frame_job(args.clip, work, cfg, args.repeat))
        if args.rss:
            short, long = work / "short.mp4", work / "long.mp4"
            make_loop_clip(args.clip, short, 100, args.rss_width)
            make_loop_clip(args.clip, long, 1500, args.rss_width)
            res["rss_100_mb"] = peak_rss_mb(short, work / "o1.mp4", cfg)
            res["rss_1500_mb"] = peak_rss_mb(long, work / "o2.mp4", cfg)
            res["rss_ratio"] = res["rss_1500_mb"] / res["rss_100_mb"]
    for k, v in res.items():
        print(f"{k:>28}: {v:.3f}" if isinstance(v, float) else f"{k:>28}: {v}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
