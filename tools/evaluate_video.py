"""Luma PSNR/SSIM gain over bicubic of vsr on real clips delivered losslessly or as H.264.

The protocol (issue 9), for each clip and scale ``s``:

* HR: the first ``--frames`` frames of the clip as 8-bit yuv420p (swscale conversion from
  the clip's format), cropped (top-left kept) to a multiple of ``2*s`` in both directions.
* LR: HR scaled by ``1/s`` with swscale bicubic, then stored losslessly (FFV1) or encoded
  with libx264 preset medium at CRF C, for C in ``--crf`` (default lossless,23,30,36).
* reference: the decoded LR scaled back up with swscale bicubic.
* SR: ``vsr.upscale_video`` on the LR file (output FFV1, lossless) with each model and
  weight set.
* PSNR: luma (the Y plane as decoded) against HR with ``s`` pixels shaved from each border,
  one MSE over the whole clip; SSIM: mean over every ``--ssim-every``-th frame.

``auto`` is not run separately: it runs the set :func:`vsr.models.choice.choose_weights`
picks for the LR file, whose figures are reported under ``auto``.

Examples::

    python -m tools.evaluate_video                           # held-out clips, x2, ESPCN + FSRCNN
    python -m tools.evaluate_video --scale 3 --markdown out.md --json out.json
    python -m tools.evaluate_video --clips bikes.mp4 --crf 30 --models espcn --weights clean,compressed
    python -m tools.evaluate_video --crf 23,30 --models espcn --weights auto --backend openvino --precision f32,int8
"""

from __future__ import annotations

import argparse
import fractions
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from tools.degrade import EVAL_CLIPS
from tools.paths import add_data_root, data_root
from vsr.models import all_scales, list_architectures

log = logging.getLogger("evaluate_video")
CLIPS = EVAL_CLIPS + ("hdr10-video-with-sdr-container.mp4", "sample_with_colr_mdcv_and_clli.mp4")


def clip_frames(clip: Path, frames: int, max_megapixels: float | None) -> int:
    """``frames``, or fewer so that frames x width x height stays within ``max_megapixels`` (at least 2)."""
    if not max_megapixels:
        return frames
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        pixels = s.codec_context.width * s.codec_context.height
    return max(2, min(frames, int(max_megapixels * 1e6 // pixels)))


def read_hr(path: Path, frames: int, scale: int) -> tuple[list[av.VideoFrame], fractions.Fraction]:
    """The first ``frames`` frames as yuv420p, cropped to a multiple of ``2*scale``; and the rate."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = s.guessed_rate or s.average_rate or fractions.Fraction(25)
        for f in c.decode(s):
            a = f.reformat(format="yuv420p").to_ndarray()
            h, w = f.height, f.width
            ch, cw = h - h % (2 * scale), w - w % (2 * scale)
            u = a[h:].reshape(2, h // 2, w // 2)[:, : ch // 2, : cw // 2]
            packed = np.concatenate([a[:ch, :cw].ravel(), u[0].ravel(), u[1].ravel()]).reshape(-1, cw)
            out.append(av.VideoFrame.from_ndarray(packed, format="yuv420p"))
            if len(out) == frames:
                break
    return out, fractions.Fraction(rate).limit_denominator(1001)


def write_lr(hr: list[av.VideoFrame], scale: int, crf: str, rate: fractions.Fraction, path: Path) -> None:
    """LR = swscale bicubic 1/scale of HR, stored as FFV1 (``crf == "lossless"``) or libx264 medium CRF."""
    w, h = hr[0].width // scale, hr[0].height // scale
    rate = fractions.Fraction(rate)
    with av.open(str(path), "w") as out:
        if crf == "lossless":
            st = out.add_stream("ffv1", rate=rate)
        else:
            st = out.add_stream("libx264", rate=rate, options={"crf": crf, "preset": "medium"})
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        for i, f in enumerate(hr):
            lr = f.reformat(w, h, interpolation="BICUBIC")
            lr.pts, lr.time_base = i, 1 / rate
            out.mux(st.encode(lr))
        out.mux(st.encode(None))


def decode(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return [f.reformat(format="yuv420p") for f in c.decode(video=0)]


def luma(f: av.VideoFrame) -> np.ndarray:
    return f.to_ndarray()[: f.height].astype(np.float64)


def score(hr: list[np.ndarray], out: list[np.ndarray], scale: int, ssim_every: int) -> tuple[float, float]:
    """(PSNR over the clip from one MSE, mean SSIM over every ``ssim_every``-th frame), ``scale`` px shaved."""
    from vsr.quality import ssim

    if len(hr) != len(out):
        raise RuntimeError(f"{len(out)} frames out for {len(hr)} in")
    s = scale
    sse = sum(float(np.sum((a[s:-s, s:-s] - b[s:-s, s:-s]) ** 2)) for a, b in zip(hr, out))
    mse = sse / sum(a[s:-s, s:-s].size for a in hr)
    ss = [ssim(out[i], hr[i], s) for i in range(0, len(hr), ssim_every)]
    return 10 * np.log10(255**2 / mse), float(np.mean(ss))


def bits_per_pixel(path: Path, frames: int, size: tuple[int, int]) -> float:
    """The LR file's bits per pixel per frame (file size over the pixels of its ``size`` frames)."""
    return path.stat().st_size * 8 / (size[0] * size[1] * frames)


def evaluate_clip(clip: Path, scale: int, frames: int, crfs: list[str], models: list[str], sets: list[str],
                  work: Path, ssim_every: int, backend: str, precisions: tuple[str, ...] = ("auto",)) -> list[dict]:
    """Rows ``{clip, crf, model, weights, psnr, ssim, bicubic_psnr, bicubic_ssim, gain, ...}``; with
    several OpenVINO ``precisions`` each is a column of its own (``weights`` reads ``SET PRECISION``)."""
    import vsr
    from vsr.models.choice import choose_weights
    from vsr.models.weights import list_models

    hr_frames, rate = read_hr(clip, frames, scale)
    hr = [luma(f) for f in hr_frames]
    size = (hr_frames[0].width, hr_frames[0].height)
    rows = []
    for crf in crfs:
        lr_path = work / f"{clip.stem}_x{scale}_{crf}.mkv"
        write_lr(hr_frames, scale, crf, rate, lr_path)
        bpp = bits_per_pixel(lr_path, len(hr), (size[0] // scale, size[1] // scale))
        ref = [luma(f.reformat(size[0], size[1], interpolation="BICUBIC")) for f in decode(lr_path)]
        b_psnr, b_ssim = score(hr, ref, scale, ssim_every)
        codec = "ffv1" if crf == "lossless" else "h264"
        log.info("%s %s: %dx%d, %d frames, %.3f bpp, bicubic %.2f dB", clip.name, crf, *size, len(hr), bpp, b_psnr)
        base = {"clip": clip.name, "scale": scale, "crf": crf, "frames": len(hr), "size": f"{size[0]}x{size[1]}",
                "bpp": round(bpp, 4), "bicubic_psnr": round(b_psnr, 3), "bicubic_ssim": round(b_ssim, 4)}
        done: dict[tuple[str, str], dict] = {}
        for model in models:
            shipped = {s.weights for s in list_models() if s.name == model and s.scale == scale}
            for ws in sets:
                chosen = choose_weights(model, scale, ws, codec, bpp) if ws == "auto" else ws
                if chosen not in shipped:
                    log.warning("no %s weights for %s x%d; skipped", chosen, model, scale)
                    continue
                for prec in precisions:
                    if (model, chosen, prec) not in done:
                        sr_path = work / f"{clip.stem}_x{scale}_{crf}_{model}_{chosen}.mkv"
                        t = time.time()
                        own = {"precision": prec} if prec != "auto" else {}
                        vsr.upscale_video(lr_path, sr_path, model=model, scale=scale, weights=chosen, backend=backend,
                                          codec="ffv1", overwrite=True, **own)
                        p, s = score(hr, [luma(f) for f in decode(sr_path)], scale, ssim_every)
                        done[model, chosen, prec] = {"psnr": round(p, 3), "ssim": round(s, 4),
                                                     "gain": round(p - b_psnr, 3)}
                        sr_path.unlink()
                        log.info("  %s %s %s: %.2f dB (%+.2f) in %.1f s", model, chosen, prec, p, p - b_psnr,
                                 time.time() - t)
                    label = ws if len(precisions) == 1 else f"{ws} {prec}"
                    rows.append({**base, "model": model, "weights": label, "ran": chosen, **done[model, chosen, prec]})
        lr_path.unlink()
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Mean and worst PSNR gain, and mean SSIM gain, per (scale, model, weights, crf)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scale"], r["model"], r["weights"], r["crf"]), []).append(r)
    return [{"scale": k[0], "model": k[1], "weights": k[2], "crf": k[3], "clips": len(v),
             "mean_gain": round(float(np.mean([r["gain"] for r in v])), 3),
             "worst_gain": round(float(np.min([r["gain"] for r in v])), 3),
             "mean_ssim_gain": round(float(np.mean([r["ssim"] - r["bicubic_ssim"] for r in v])), 4)}
            for k, v in groups.items()]


def markdown(rows: list[dict]) -> str:
    """Per-clip table (PSNR gain over bicubic, dB; bicubic PSNR beside) and the summary."""
    cols = sorted({(r["model"], r["weights"]) for r in rows}, key=lambda c: (c[0], ["clean", "compressed", "auto"]
                                                                             .index(c[1]) if c[1] in
                                                                             ("clean", "compressed", "auto") else 9))
    lines = ["| clip | LR | bpp | bicubic dB | " + " | ".join(f"{m} {w}" for m, w in cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    keys = []
    for r in rows:
        if (r["clip"], r["crf"]) not in keys:
            keys.append((r["clip"], r["crf"]))
    for clip, crf in keys:
        sel = {(r["model"], r["weights"]): r for r in rows if r["clip"] == clip and r["crf"] == crf}
        first = next(iter(sel.values()))
        cells = []
        for c in cols:
            r = sel.get(c)
            cells.append("-" if r is None else f"{r['gain']:+.2f}" + (f" ({r['ran']})" if c[1] == "auto" else ""))
        lr = "lossless" if crf == "lossless" else f"CRF {crf}"
        lines.append(f"| {clip} | {lr} | {first['bpp']:.3f} | {first['bicubic_psnr']:.2f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "| model | weights | LR | mean gain | worst clip | SSIM gain (mean) |", "|---|---|---|---|---|---|"]
    for s in summary(rows):
        lr = "lossless" if s["crf"] == "lossless" else f"CRF {s['crf']}"
        lines.append(f"| {s['model']} x{s['scale']} | {s['weights']} | {lr} | {s['mean_gain']:+.2f} | "
                     f"{s['worst_gain']:+.2f} | {s['mean_ssim_gain']:+.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default=",".join(CLIPS), help="comma-separated clip names under --video, or paths")
    ap.add_argument("--video", type=Path, help="folder of the clips (default: video/ under the data root)")
    ap.add_argument("--scale", type=int, default=2, choices=all_scales())
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--max-megapixels", type=float,
                    help="fewer frames for large clips: at most this many HR megapixels per clip (at least 2 "
                    "frames; e.g. 50 keeps 24 frames up to 1280x720 and takes 6 of a 3840x2160 clip)")
    ap.add_argument("--crf", default="lossless,23,30,36")
    ap.add_argument("--models", default=",".join(list_architectures()))
    ap.add_argument("--weights", default="clean,compressed,auto")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="auto",
                    help="OpenVINO precisions, comma-separated (each its own column: int8,f32 compares them)")
    ap.add_argument("--ssim-every", type=int, default=4, help="SSIM on every k-th frame (PSNR uses all)")
    ap.add_argument("--json", type=Path, help="write the rows and summary as JSON here, under the key xSCALE "
                    "(other scales already in the file are kept)")
    ap.add_argument("--markdown", type=Path, help="write the tables as Markdown here")
    ap.add_argument("--record", action="store_true",
                    help="store each shipped set's mean and worst gain per LR in its manifest provenance "
                         "(video_gain_crf30 is what 'vsr models' shows)")
    add_data_root(ap)
    args = ap.parse_args(argv)
    args.video = args.video or data_root(args.data_root) / "video"
    if args.record and "," in args.precision:
        raise SystemExit("--record stores one precision's figures; give --precision one value")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("vsr").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vsr_evalvideo_") as tmp:
        for name in args.clips.split(","):
            clip = Path(name) if Path(name).exists() else args.video / name
            if not clip.exists():
                raise SystemExit(f"no clip {clip}")
            frames = clip_frames(clip, args.frames, args.max_megapixels)
            rows += evaluate_clip(clip, args.scale, frames, args.crf.split(","), args.models.split(","),
                                  args.weights.split(","), Path(tmp), args.ssim_every, args.backend,
                                  tuple(args.precision.split(",")))
    text = markdown(rows)
    print(text)
    if args.json:
        write_json(args.json, args.scale, {"frames": args.frames, "max_megapixels": args.max_megapixels,
                                           "clips": args.clips, "rows": rows,
                                           "summary": summary(rows)})
    if args.markdown:
        args.markdown.write_text(text)
    if args.record:
        record(summary(rows), args.clips, f"{args.frames}" + (f" (at most {args.max_megapixels:g} Mpx per clip)"
                                                              if args.max_megapixels else ""))
    return 0


def write_json(path: Path, scale: int, entry: dict) -> None:
    """Store ``entry`` under ``x{scale}`` in the JSON file ``path``, keeping its other scales."""
    data = json.loads(path.read_text()) if path.exists() else {}
    data[f"x{scale}"] = entry
    path.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")


def record(summary_rows: list[dict], clips: str, frames: str) -> None:
    """Write the summary into the manifest: ``video_gains`` per LR and ``video_gain_crf30``."""
    from vsr.models.weights import get_spec, record_figures

    for s in summary_rows:
        if s["weights"] == "auto":
            continue
        spec = get_spec(s["model"], s["scale"], s["weights"])
        gains = dict(spec.provenance.get("video_gains", {}))
        gains[s["crf"]] = {"mean": s["mean_gain"], "worst": s["worst_gain"], "clips": s["clips"]}
        figures = {"video_gains": gains, "video_protocol": f"tools/evaluate_video.py, {frames} frames of {clips}"}
        if s["crf"] == "30":
            figures["video_gain_crf30"] = s["mean_gain"]
        record_figures(spec, figures)


if __name__ == "__main__":
    sys.exit(main())
