"""Codec-degraded training pairs for the ``compressed`` weight set, built once into a cache.

Real video reaches vsr compressed, so the LR a network sees carries blocking, ringing and
smeared motion that bicubic LR never has. This module makes (degraded LR, HR) luma pairs:

* HR sources: the 291 stills (``train/`` under the data root, :mod:`tools.paths`) and frames
  of the training clips :data:`TRAIN_CLIPS` in its ``video/`` (never the clips of
  :data:`EVAL_CLIPS`, which ``tools.evaluate_video`` reports on; ``bbb_2500ms.ts`` is the first 2.5 s of
  ``big_buck_bunny_0_30.webm``, so frames of that clip before 5 s are not used).
* A sequence of 1 (a still) or 4-8 HR crops that pan a few pixels per frame, each scaled
  by ``1/scale`` with swscale bicubic (the evaluation protocol's downscale), optionally
  with mild Gaussian noise, then encoded and decoded with a real codec through PyAV:
  libx264 / libx265 (CRF 18-38, several presets), mpeg2video / mpeg4 (q 2-20, with or
  without B-frames) or JPEG (mjpeg q 2-20). A fifth of the samples stay clean.
* Up to two decoded frames of each sequence (so P- and B-frame artifacts are included)
  are stored with their HR crops as uint8 luma in ``lr.npy`` ``(N, S, S)`` and ``hr.npy``
  ``(N, S*scale, S*scale)`` plus ``kind.npy``/``quality.npy`` (codec and CRF/q) under
  ``CACHE/x{scale}`` (default ``~/.cache/vsr/degraded``, or ``$VSR_DEGRADED_CACHE``).

Build (a couple of minutes of one CPU core)::

    python -m tools.degrade --scale 2            # ~/.cache/vsr/degraded/x2
    python -m tools.degrade --scale 3 --count 5000
"""

from __future__ import annotations

import argparse
import fractions
import json
import logging
import os
import shutil
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from tools.paths import add_data_root, data_root
from vsr.models import all_scales

CACHE = Path(os.environ.get("VSR_DEGRADED_CACHE", "~/.cache/vsr/degraded")).expanduser()
IMAGE_EXT = {".png", ".bmp", ".jpg", ".jpeg"}

# clip -> (first second used, take every k-th frame)
TRAIN_CLIPS = {"big_buck_bunny_0_30.webm": (5.0, 12), "bigbuckbunny.mp4": (0.0, 4), "chaplin.mp4": (0.0, 4)}
EVAL_CLIPS = ("bikes.mp4", "fire2.mp4", "test1.mp4", "portrait_4k60.mp4", "bbb_2500ms.ts")

KINDS = ("clean", "libx264", "libx265", "mpeg2video", "mpeg4", "jpeg")
# VCISR-like: x264 most, x265, the MPEG-2/4 family, JPEG; a fifth clean
KIND_PROB = np.array([0.2, 0.32, 0.16, 0.10, 0.10, 0.12])
X264_PRESETS = ("ultrafast", "veryfast", "faster", "fast", "medium", "medium", "medium", "slow")
X265_PRESETS = ("ultrafast", "veryfast", "fast", "medium")
DECODER = {"libx264": "h264", "libx265": "hevc"}
SIZE = 64  # LR patch side (a multiple of 32: libx265 through PyAV 18 corrupts the heap on 48x48 frames)

log = logging.getLogger("degrade")


def _yuv(frame: av.VideoFrame) -> np.ndarray:
    """A frame as a packed yuv420p array ``(H*3/2, W)`` uint8 (even H, W; limited range)."""
    w, h = frame.width & ~1, frame.height & ~1
    return frame.reformat(w, h, format="yuv420p").to_ndarray()


def load_sources(root: Path) -> list[np.ndarray]:
    """HR sources as yuv420p arrays: every still under ``root/train`` and frames of :data:`TRAIN_CLIPS`
    in ``root/video`` (``root``: the data root, :func:`tools.paths.data_root`)."""
    data, video = root / "train", root / "video"
    out = []
    for f in sorted(p for p in data.rglob("*") if p.suffix.lower() in IMAGE_EXT):
        rgb = np.asarray(Image.open(f).convert("RGB"))
        out.append(_yuv(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
    stills = len(out)
    for name, (start, every) in TRAIN_CLIPS.items():
        with av.open(str(video / name)) as c:
            for i, fr in enumerate(c.decode(video=0)):
                if fr.time is not None and fr.time >= start and i % every == 0:
                    out.append(_yuv(fr))
    log.info("%d HR sources (%d stills, %d video frames)", len(out), stills, len(out) - stills)
    return out


def crop_yuv(src: np.ndarray, y: int, x: int, size: int) -> np.ndarray:
    """A ``size`` x ``size`` crop (even ``y``, ``x``, ``size``) of a packed yuv420p array."""
    h = src.shape[0] * 2 // 3
    w = src.shape[1]
    ys = src[y : y + size, x : x + size]
    u = src[h:].reshape(2, h // 2, w // 2)[:, y // 2 : (y + size) // 2, x // 2 : (x + size) // 2]
    return np.concatenate([ys.ravel(), u[0].ravel(), u[1].ravel()]).reshape(-1, size)


def encode_decode(kind: str, frames: list[np.ndarray], opts: dict[str, str], q: int = 0) -> list[np.ndarray]:
    """Encode yuv420p arrays with a codec and decode them again (same count, same order).

    Args:
        kind: one of :data:`KINDS` except ``clean``.
        frames: packed yuv420p uint8 arrays ``(S*3/2, S)``.
        opts: encoder options (``crf``, ``preset``, ...).
        q: fixed quantiser (mpeg2video, mpeg4, jpeg) or 0.
    """
    codec = "mjpeg" if kind == "jpeg" else kind
    pix = "yuvj420p" if kind == "jpeg" else "yuv420p"
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height = frames[0].shape[1], frames[0].shape[0] * 2 // 3
    ctx.pix_fmt, ctx.time_base, ctx.framerate = pix, fractions.Fraction(1, 25), 25
    if q:
        ctx.qmin = ctx.qmax = q
    ctx.options = opts
    packets = []
    for i, a in enumerate(frames):
        f = av.VideoFrame.from_ndarray(a, format="yuv420p")
        if pix != "yuv420p":
            f = f.reformat(format=pix)
        f.pts = i
        packets += ctx.encode(f)
    packets += ctx.encode(None)
    dec = av.CodecContext.create(DECODER.get(codec, codec), "r")
    out = []
    for p in packets:
        out += dec.decode(p)
    out += dec.decode(None)
    return [f.reformat(format="yuv420p").to_ndarray() for f in out]


def draw(rng: np.random.Generator) -> tuple[str, dict[str, str], int, int]:
    """A random degradation: ``(kind, encoder options, quality (CRF or q), sequence length)``."""
    kind = KINDS[rng.choice(len(KINDS), p=KIND_PROB)]
    length = 1 if kind in ("clean", "jpeg") or rng.random() < 0.3 else int(rng.integers(4, 9))
    if kind == "libx264":
        crf = int(rng.integers(18, 39))
        return kind, {"crf": str(crf), "preset": str(rng.choice(X264_PRESETS))}, crf, length
    if kind == "libx265":
        crf = int(rng.integers(18, 39))
        opts = {"crf": str(crf), "preset": str(rng.choice(X265_PRESETS)), "x265-params": "log-level=none"}
        return kind, opts, crf, length
    if kind in ("mpeg2video", "mpeg4"):
        q = int(rng.integers(2, 21))
        return kind, {"bf": str(rng.choice([0, 2])), "g": "12"}, q, length
    if kind == "jpeg":
        return kind, {}, int(rng.integers(2, 21)), 1
    return kind, {}, 0, 1


def make_sample(src: np.ndarray, scale: int, size: int, rng: np.random.Generator):
    """One degraded sequence from one HR source.

    Returns:
        ``(lr, hr, kind, quality)``: lists of ``(size, size)`` and ``(size*scale,)*2`` uint8
        luma planes (up to two frames), the :data:`KINDS` index and the CRF/q (0 when clean);
        None when the source is too small.
    """
    kind, opts, quality, length = draw(rng)
    hs = size * scale
    h, w = src.shape[0] * 2 // 3, src.shape[1]
    if min(h, w) < hs + 2:
        return None
    vmax = min(3 * scale, (h - hs) // max(1, length - 1) // 2, (w - hs) // max(1, length - 1) // 2)
    vy, vx = (int(v) * 2 for v in rng.integers(-vmax, vmax + 1, 2)) if length > 1 else (0, 0)
    ys = [0, vy * (length - 1)]
    xs = [0, vx * (length - 1)]
    y0 = int(rng.integers(-min(ys), h - hs - max(ys) + 1)) & ~1
    x0 = int(rng.integers(-min(xs), w - hs - max(xs) + 1)) & ~1
    hr, lr = [], []
    for t in range(length):
        crop = crop_yuv(src, y0 + t * vy, x0 + t * vx, hs)
        hr.append(crop[:hs])
        small = av.VideoFrame.from_ndarray(crop, format="yuv420p").reformat(size, size, interpolation="BICUBIC")
        lr.append(small.to_ndarray())
    if kind != "clean" and rng.random() < 0.2:  # mild sensor noise before encoding
        sigma = rng.uniform(1, 4)
        lr = [np.clip(a + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8) for a in lr]
    if kind != "clean":
        lr = encode_decode(kind, lr, opts, quality if kind in ("mpeg2video", "mpeg4", "jpeg") else 0)
    keep = sorted(set(rng.choice(length, min(2, length), replace=False).tolist()))
    return [lr[t][:size] for t in keep], [hr[t] for t in keep], KINDS.index(kind), quality


def build_cache(out: Path, scale: int, count: int, seed: int = 0, size: int | None = None,
                sources: list[np.ndarray] | None = None) -> Path:
    """Make ``count`` degraded sequences and write the cache folder ``out`` atomically.

    Args:
        sources: HR yuv420p arrays (default :func:`load_sources` of the data root).

    Returns:
        ``out``, holding ``lr.npy``, ``hr.npy``, ``kind.npy``, ``quality.npy``, ``meta.json``.
    """
    size = size or SIZE
    if size % 32:
        raise SystemExit(f"--size {size}: must be a multiple of 32")
    rng = np.random.default_rng(seed)
    sources = load_sources(data_root()) if sources is None else sources
    lrs, hrs, kinds, quals = [], [], [], []
    t0 = time.time()
    done = 0
    while done < count:
        got = make_sample(sources[rng.integers(len(sources))], scale, size, rng)
        if got is None:
            continue
        lr, hr, kind, quality = got
        lrs += lr
        hrs += hr
        kinds += [kind] * len(lr)
        quals += [quality] * len(lr)
        done += 1
        if done % 1000 == 0:
            log.info("%d/%d sequences, %d pairs, %.0f s", done, count, len(lrs), time.time() - t0)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "lr.npy", np.stack(lrs))
    np.save(tmp / "hr.npy", np.stack(hrs))
    np.save(tmp / "kind.npy", np.array(kinds, np.int8))
    np.save(tmp / "quality.npy", np.array(quals, np.int16))
    meta = {"scale": scale, "size": size, "sequences": count, "pairs": len(lrs), "seed": seed, "kinds": KINDS,
            "train_clips": TRAIN_CLIPS, "seconds": round(time.time() - t0, 1)}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log.info("wrote %s: %d pairs in %.0f s", out, len(lrs), time.time() - t0)
    return out


def load_cache(folder: Path) -> dict[str, np.ndarray]:
    """The cache arrays, memory-mapped read-only (``lr``, ``hr``, ``kind``, ``quality``).

    Raises:
        SystemExit: no cache there (with the command that builds it).
    """
    if not (folder / "meta.json").exists():
        raise SystemExit(f"no degraded cache at {folder}; build it with: python -m tools.degrade --out {folder.parent}")
    return {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in ("lr", "hr", "kind", "quality")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=2, choices=all_scales())
    ap.add_argument("--count", type=int, default=6000, help="degraded sequences (each stores 1-2 pairs)")
    ap.add_argument("--size", type=int, help="LR patch side, a multiple of 32 (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=CACHE, help="cache root; the set goes to OUT/x{scale}")
    add_data_root(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    build_cache(args.out / f"x{args.scale}", args.scale, args.count, args.seed, args.size,
                sources=load_sources(data_root(args.data_root)))


if __name__ == "__main__":
    main()
