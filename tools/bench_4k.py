"""The 4K mode of ``tools/bench.py``: vsr 1080p -> 3840x2160 end to end against FFmpeg's bicubic
with the same encode, and where vsr's time goes, stage by stage.

    python -m tools.bench --4k clip_1080p.mp4 --model espcn fsrcnn --precision int8 bf16 \\
        --preset veryfast --crf 18 --repeat 3

The baseline runs in this process through PyAV: decode, the filter graph
``scale=3840:2160:flags=bicubic``, and libx264 with the same preset and crf as vsr's encode (no
ffmpeg binary). Each repeat runs the baseline and every (model, precision) pipeline back to
back, so a busy machine slows them alike; figures are medians over the repeats and ratios are
taken between those medians.

The stage profile times each piece alone on the clip's frames, wall-clock per frame, medians:
decode; the network (OpenVINO's inference as one of the pipeline's workers runs it: with the
automatic layout on 2 cores, one thread, two frames at once); the float32 input add and pixel
shuffle; luma quantisation; chroma normalising, bicubic upsampling and quantisation (one
thread each, in the worker); packing the planes into an ``av.VideoFrame`` and encoding (the
encoder alone, fed the upscaled frames, on its own threads).
"""

from __future__ import annotations

import statistics
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tools.bench import decode_all
from vsr.config import BackendConfig, EncodeConfig, ModelConfig, UpscaleConfig
from vsr.media.decode import Decoder
from vsr.pipeline import load_backend, upscale_video
from vsr.stages import Encode, EncodeOptions
from vsr.upscale import arrays
from vsr.upscale.resample import resize
from vsr.upscale.siting import chroma_offset

SIZE = (3840, 2160)


def bicubic_pipeline(src: Path, dst: Path, preset: str, crf: int) -> int:
    """FFmpeg's bicubic to 4K and libx264, all in PyAV; returns the frames encoded."""
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        rate = vin.guessed_rate or vin.average_rate or 25
        st = out.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = *SIZE, "yuv420p"
        st.codec_context.thread_type = "AUTO"
        st.codec_context.options = {"crf": str(crf), "preset": preset}
        graph = av.filter.Graph()
        chain = [graph.add_buffer(template=vin), graph.add("scale", f"{SIZE[0]}:{SIZE[1]}:flags=bicubic"),
                 graph.add("buffersink")]
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        graph.configure()
        for frame in inp.decode(vin):
            graph.push(frame)
            scaled = graph.pull()
            scaled.pts, scaled.time_base = n, 1 / Fraction(rate)
            out.mux(st.encode(scaled))
            n += 1
        out.mux(st.encode(None))
    return n


def _per_frame(fn, items: list, repeat: int) -> float:
    """Median over ``repeat`` runs of the wall-clock seconds per item of ``fn`` over ``items``."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for it in items:
            fn(it)
        times.append((time.perf_counter() - t) / len(items))
    return statistics.median(times)


def stage_profile(clip: Path, cfg: UpscaleConfig, repeat: int, work: Path) -> dict[str, float]:
    """Milliseconds per frame of each stage alone (see the module docstring)."""
    frames = decode_all(clip)[:8]
    maxv = float(frames[0].max_value)
    out = {"decode": _per_frame(lambda _: decode_all(clip), [0], repeat) / len(decode_all(clip))}
    loaded = load_backend(cfg.model, cfg.backend)
    backend = loaded.backend
    ys = [arrays.normalise(f.planes[0][None, None], maxv) for f in frames]
    out["luma normalise"] = _per_frame(lambda f: arrays.normalise(f.planes[0][None, None], maxv), frames, repeat)
    run = backend.run(ys[0])
    out["network + add + shuffle"] = _per_frame(backend.run, ys, repeat)
    if backend.name == "openvino":
        from vsr.backends.openvino import add_shuffle

        res = np.zeros((1, backend.scale**2, *ys[0].shape[-2:]), np.float32)
        out["add + shuffle"] = _per_frame(lambda y: add_shuffle(res, y, backend.scale), ys, repeat)
        out["network"] = out.pop("network + add + shuffle") - out["add + shuffle"]
    out["luma quantise"] = _per_frame(lambda _: arrays.quantise(run[:, 0], maxv, np.uint8), frames, repeat)
    f0 = frames[0]
    ch, cw = f0.chroma_size(*SIZE)
    oy = chroma_offset(f0.planes[1].shape[0], ch, f0.log2_chroma[1], sited_left=False)
    ox = chroma_offset(f0.planes[1].shape[1], cw, f0.log2_chroma[0], sited_left=True)

    def chroma(f):
        uv = resize(arrays.normalise(np.stack(f.planes[1:])[None], maxv), ch, cw, oy, ox)
        return [arrays.quantise(uv[:, i], maxv, np.uint8) for i in (0, 1)]

    out["chroma upsample + quantise"] = _per_frame(chroma, frames, repeat)
    big = [f.with_planes((arrays.quantise(run[0, 0], maxv, np.uint8), *chroma(f))) for f in frames]

    def encode(_):
        d = Decoder(clip)
        next(iter(d))
        Encode(work / "enc.mp4", d, EncodeOptions(cfg.encode)).consume(big)
        d.close()

    out["pack + encode"] = _per_frame(encode, [0], repeat) / len(big)
    backend.close()
    return {k: v * 1000 for k, v in out.items()}


def run(clip: Path, models: list[str], precisions: list[str], scale: int, preset: str, crf: int, repeat: int,
        work: Path) -> dict:
    """End-to-end fps of the bicubic baseline and each (model, precision), ratios, stage profiles."""

    def config(model: str, precision: str) -> UpscaleConfig:
        return UpscaleConfig(model=ModelConfig(model, scale),
                             backend=BackendConfig("openvino", "cpu", options=(("precision", precision),)),
                             encode=EncodeConfig("libx264", crf, preset), size=SIZE)

    jobs, loaded = {}, {}
    for m in models:
        for p in precisions:  # labelled by what the backend computes in; ``auto`` may repeat another
            built = load_backend(config(m, p).model, config(m, p).backend)
            key = f"{m} {built.backend.precision}" + (" (auto)" if p == "auto" else "")
            if any(k.split(" (")[0] == key.split(" (")[0] for k in jobs):
                built.backend.close()
                continue
            jobs[key], loaded[key] = config(m, p), built
    times: dict[str, list[float]] = {"bicubic": [], **{k: [] for k in jobs}}
    n = 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = bicubic_pipeline(clip, work / "bicubic.mp4", preset, crf)
        times["bicubic"].append(time.perf_counter() - t)
        for k, c in jobs.items():
            t = time.perf_counter()
            upscale_video(clip, work / "vsr.mp4", c, loaded=loaded[k], overwrite=True)
            times[k].append(time.perf_counter() - t)
    for b in loaded.values():
        b.backend.close()
    fps = {k: n / statistics.median(v) for k, v in times.items()}
    res = {"frames": n, "fps": fps, "ratio_vs_bicubic": {k: fps[k] / fps["bicubic"] for k in jobs}}
    res["stages_ms"] = {k: stage_profile(clip, c, repeat, work) for k, c in jobs.items()}
    return res


def report(res: dict) -> str:
    """The results as text lines."""
    lines = [f"frames: {res['frames']}", f"{'pipeline':>24}  fps    vs bicubic + same encode"]
    for k, v in res["fps"].items():
        ratio = res["ratio_vs_bicubic"].get(k, 1.0)
        lines.append(f"{k:>24}  {v:5.2f}  {ratio:.3f}x")
    for k, stages in res["stages_ms"].items():
        lines.append(f"stages alone, ms per frame ({k}): " + ", ".join(f"{s} {ms:.1f}" for s, ms in stages.items()))
    return "\n".join(lines)
