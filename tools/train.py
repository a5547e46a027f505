"""Train one (model, scale) on a folder of images, with checkpoints that resume.

Example::

    python -m tools.train --model espcn --scale 2 --steps 40000
    python -m tools.train --model espcn --scale 2 --export   # write shipped weights

Data: every image under ``--data`` (default ``../shared/data/train``, T91 + BSD200),
plus copies downscaled by ``--jitter`` factors. For each, HR is the BT.601 luma of the
image cropped to a multiple of the scale and LR the luma of its antialiased bicubic
downscale (the evaluation protocol). Random LR patches of ``--patch`` pixels with
the matching HR patch, random flips and 90-degree rotations. Adam with warm-up and
cosine decay. A checkpoint is written every ``--ckpt-every`` steps (atomically) and a
run started again with the same ``--run-dir`` continues from it.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("train.py needs PyTorch: pip install 'vsr-luma[torch]'")

from tools.paths import REPO, add_data_root, data_root
from vsr.models import build_model
from vsr.models.weights import save_weights
from vsr.output import atomic_write
from vsr.quality import downscale, modcrop, psnr, rgb_to_y

log = logging.getLogger("train")
IMAGE_EXT = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}


def load_pairs(folder: Path, scale: int, jitter: tuple[float, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(LR, HR) float32 luma pairs in [0, 1] (Y / 255) for every image and jitter factor."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT)
    if not files:
        raise SystemExit(f"no images under {folder}")
    pairs = []
    for f in files:
        img = Image.open(f).convert("RGB")
        for j in jitter:
            im = img if j == 1 else img.resize((round(img.width * j), round(img.height * j)), Image.BICUBIC)
            hr = modcrop(np.asarray(im), scale)
            if min(hr.shape[:2]) < 8 * scale:
                continue
            lr = downscale(hr, scale)
            pairs.append(((rgb_to_y(lr) / 255).astype(np.float32), (rgb_to_y(hr) / 255).astype(np.float32)))
    log.info("%d images, %d training pairs (jitter %s)", len(files), len(pairs), jitter)
    return pairs


class CacheSampler:
    """Random patches of the degraded cache (``tools/degrade.py``), with the 8 flips/rotations.

    The last :func:`holdout` pairs are kept out of training for :func:`validate_cache`. With
    ``levels``, half the pairs get a random gain (0.8-1.2 about code 128) and offset (+-16
    codes), the same on LR and HR: the cache's HR luma never leaves [16, 235] (stills are
    converted to limited range), while codec undershoot puts LR below 16 near black, so
    without it the network learns to lift everything under 16 -- real clips with sub-black
    content (phone video) then lose up to several dB.

    With ``focus = (lo, hi, share)`` (the last stage of a CASR-like schedule) a ``share`` of
    each batch is drawn from the x264/x265 pairs at CRF ``lo``-``hi``, the rest from the whole
    cache, so the other codecs and the clean pairs are not forgotten.
    """

    def __init__(self, cache: dict[str, np.ndarray], scale: int, patch: int, rng: np.random.Generator,
                 levels: bool = True, focus: tuple[int, int, float] | None = None) -> None:
        self.lr, self.hr = cache["lr"], cache["hr"]
        self.levels = levels
        self.n = len(self.lr) - holdout(cache)
        self.scale, self.patch, self.rng = scale, patch, rng
        self.focus, self.share = np.arange(0), 0.0
        if focus:
            kind, quality = np.asarray(cache["kind"][: self.n]), np.asarray(cache["quality"][: self.n])
            h26x = (kind == H26X[0]) | (kind == H26X[1])
            self.focus = np.flatnonzero(h26x & (quality >= focus[0]) & (quality <= focus[1]))
            self.share = focus[2] if len(self.focus) else 0.0

    def indices(self, n: int) -> np.ndarray:
        """``n`` random training pair indices (a ``share`` of them from the focus range)."""
        k = self.rng.integers(0, self.n, n)
        if self.share:
            pick = self.rng.random(n) < self.share
            k[pick] = self.focus[self.rng.integers(0, len(self.focus), int(pick.sum()))]
        return k

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n,1,p,p)`` LR and ``(n,1,rp,rp)`` HR float32 tensors in [0, 1]."""
        p, r, size = self.patch, self.scale, self.lr.shape[1]
        lrs = np.empty((n, p, p), np.float32)
        hrs = np.empty((n, p * r, p * r), np.float32)
        for i, k in enumerate(self.indices(n)):
            y, x = self.rng.integers(0, size - p + 1, 2)
            lrs[i] = self.lr[k, y : y + p, x : x + p]
            hrs[i] = self.hr[k, y * r : (y + p) * r, x * r : (x + p) * r]
        if self.levels:  # the same random gain and offset on LR and HR, clipped to 8 bits
            g = self.rng.uniform(0.8, 1.2, (n, 1, 1)).astype(np.float32)
            o = self.rng.uniform(-16, 16, (n, 1, 1)).astype(np.float32)
            keep = self.rng.random(n) < 0.5
            g[keep], o[keep] = 1, 0
            lrs = np.clip((lrs - 128) * g + 128 + o, 0, 255)
            hrs = np.clip((hrs - 128) * g + 128 + o, 0, 255)
        return augment(lrs / 255, hrs / 255, self.rng)


H26X = (1, 2)  # libx264, libx265 in tools/degrade.py's KINDS


def augment(lrs: np.ndarray, hrs: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pair flipped/rotated by one of the 8 symmetries; ``(n,1,p,p)``, ``(n,1,rp,rp)`` tensors."""
    t = rng.integers(0, 8, len(lrs))
    flip = t & 1 == 1
    lrs[flip], hrs[flip] = lrs[flip, :, ::-1], hrs[flip, :, ::-1]
    rot = t >> 1
    for k in (1, 2, 3):
        m = rot == k
        lrs[m] = np.rot90(lrs[m], k, axes=(1, 2))
        hrs[m] = np.rot90(hrs[m], k, axes=(1, 2))
    return torch.from_numpy(np.ascontiguousarray(lrs[:, None], np.float32)), \
        torch.from_numpy(np.ascontiguousarray(hrs[:, None], np.float32))


def holdout(cache: dict[str, np.ndarray]) -> int:
    """How many pairs at the end of the cache are kept for validation: 256, at most an eighth."""
    return min(256, len(cache["lr"]) // 8)


@torch.no_grad()
def validate_cache(model: torch.nn.Module, cache: dict[str, np.ndarray], scale: int) -> float:
    """Luma PSNR (dB, ``scale`` px shaved, one MSE) on the cache's held-out degraded pairs."""
    model.eval()
    lr = torch.from_numpy(np.asarray(cache["lr"][-holdout(cache):], np.float32) / 255)[:, None]
    hr = np.asarray(cache["hr"][-holdout(cache):], np.float64)
    sr = np.rint(model(lr).clamp(0, 1)[:, 0].numpy().astype(np.float64) * 255)
    model.train()
    s = scale
    mse = np.mean((sr[:, s:-s, s:-s] - hr[:, s:-s, s:-s]) ** 2)
    return float(10 * np.log10(255**2 / mse))


class PatchSampler:
    """Random aligned LR/HR patches with the 8 flips/rotations, drawn by image area."""

    def __init__(self, pairs, scale: int, patch: int, rng: np.random.Generator) -> None:
        self.pairs = [p for p in pairs if min(p[0].shape) >= patch]
        area = np.array([p[0].size for p in self.pairs], dtype=np.float64)
        self.prob = area / area.sum()
        self.scale, self.patch, self.rng = scale, patch, rng

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n,1,p,p)`` LR and ``(n,1,rp,rp)`` HR float32 tensors in [0, 1]."""
        p, r = self.patch, self.scale
        lrs = np.empty((n, p, p), np.float32)
        hrs = np.empty((n, p * r, p * r), np.float32)
        for i, k in enumerate(self.rng.choice(len(self.pairs), n, p=self.prob)):
            lr, hr = self.pairs[k]
            y = self.rng.integers(0, lr.shape[0] - p + 1)
            x = self.rng.integers(0, lr.shape[1] - p + 1)
            lrs[i] = lr[y : y + p, x : x + p]
            hrs[i] = hr[y * r : (y + p) * r, x * r : (x + p) * r]
        return augment(lrs, hrs, self.rng)


def lr_at(step: int, total: int, base: float, warmup: int = 500, floor: float = 0.01) -> float:
    """Linear warm-up then cosine decay from ``base`` to ``base * floor``."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def loss_fn(name: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if name == "mse":
        return F.mse_loss(out, target)
    if name == "l1":
        return F.l1_loss(out, target)
    return torch.sqrt((out - target) ** 2 + 1e-6).mean()  # Charbonnier


@torch.no_grad()
def validate(model: torch.nn.Module, folder: Path, scale: int) -> float:
    """Mean luma PSNR (dB) over a folder, with the evaluation protocol."""
    model.eval()
    vals = []
    for f in sorted(folder.glob("*.png")):
        hr = modcrop(np.asarray(Image.open(f).convert("RGB")), scale)
        y = torch.from_numpy(rgb_to_y(downscale(hr, scale)) / 255).float()[None, None]
        sr = np.rint(model(y).clamp(0, 1)[0, 0].numpy().astype(np.float64) * 255)
        vals.append(psnr(sr, rgb_to_y(hr), scale))
    model.train()
    return float(np.mean(vals))


def save_atomic(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def _earlier_stages(model: str, scale: int, init: str | None, command: str) -> dict:
    """When this run continued a shipped set's checkpoint (the clean one, or the compressed one
    for a later stage), that entry's stages (and hardware) with this run appended, so the
    manifest keeps the whole history."""
    from vsr.errors import ModelError
    from vsr.models.weights import get_spec

    for weights in ("clean", "compressed"):
        try:
            earlier = get_spec(model, scale, weights).provenance
        except ModelError:  # no shipped weights in that set yet
            continue
        shipped = earlier.get("checkpoint")
        if init and shipped and Path(init).resolve() == (REPO / shipped).resolve():
            stages = earlier.get("stages") or [earlier["command"]]
            carried = {"stages": [*stages, f"{command} --init {shipped}"]}
            if "hardware" in earlier:
                carried["hardware"] = earlier["hardware"]
            return carried
    return {}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--scale", type=int, required=True)
    ap.add_argument("--data", type=Path, help="training images (default: train/ under the data root)")
    ap.add_argument("--val", type=Path, help="validation images (default: val/Set5 under the data root)")
    add_data_root(ap)
    ap.add_argument("--degradation", choices=["bicubic", "codec"], default="bicubic",
                    help="LR of the pairs: clean bicubic (the 'clean' weight set) or the codec-degraded cache "
                    "of tools/degrade.py (the 'compressed' set)")
    ap.add_argument("--cache", type=Path, help="degraded cache folder (default ~/.cache/vsr/degraded/xSCALE)")
    ap.add_argument("--focus", help="LO-HI:SHARE, e.g. 24-36:0.6: that share of each batch from the cache's "
                    "x264/x265 pairs at CRF LO-HI (a last, target-range stage)")
    ap.add_argument("--steps", type=int, default=40000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--patch", type=int, default=24, help="LR patch size")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--loss", choices=["l1", "mse", "charbonnier"], default="l1")
    ap.add_argument("--jitter", default="1.0,0.9,0.8,0.7,0.6", help="image scale factors for augmentation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--run-dir", type=Path, help="checkpoint folder (default runs/MODEL_xSCALE)")
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--val-every", type=int, default=2000)
    ap.add_argument("--init", type=Path, help="start from this checkpoint or weights file (e.g. the x2 model when "
                    "training x3): every tensor whose shape matches is copied, the rest stay freshly initialised")
    ap.add_argument("--export", action="store_true", help="write the checkpoint's weights into the package and exit")
    args = ap.parse_args(argv)
    args.data = args.data or data_root(args.data_root) / "train"
    args.val = args.val or data_root(args.data_root) / "val" / "Set5"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.threads:
        torch.set_num_threads(args.threads)
    run = args.run_dir or REPO / "runs" / f"{args.model}_x{args.scale}"
    run.mkdir(parents=True, exist_ok=True)
    ckpt_path = run / "checkpoint.pt"

    model = build_model(args.model, args.scale).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, history, config = 0, [], {k: str(v) for k, v in vars(args).items() if k != "export"}
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=args.device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, history, config = ck["step"], ck["history"], ck["config"]
        log.info("resumed %s at step %d", ckpt_path, step)
        if argv_has(argv, "--steps") and str(args.steps) != config["steps"]:
            config.setdefault("schedule_changes", []).append([step, args.steps])
            log.info("schedule length changed to %d steps at step %d", args.steps, step)
        else:
            args.steps = int(config["steps"])
        config["steps"] = str(args.steps)

    elif args.init:
        src = torch.load(args.init, map_location=args.device, weights_only=False)
        src = src.get("model", src)
        own = model.state_dict()
        same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(same, strict=False)
        config["init"] = str(args.init)
        log.info("initialised %d of %d tensors from %s", len(same), len(own), args.init)

    codec = config.get("degradation", "bicubic") == "codec"
    cache = None
    if codec:
        cache_dir = Path(config["cache"]) if _opt(config, "cache") else None
        cache_dir = cache_dir or _degrade().CACHE / f"x{args.scale}"
        cache = _degrade().load_cache(cache_dir)
    if args.export:
        if not ckpt_path.exists():
            raise SystemExit(f"no checkpoint at {ckpt_path}")
        val = validate(model.cpu(), args.val, args.scale)
        prov = {
            "command": f"python -m tools.train --model {args.model} --scale {args.scale} --steps {config['steps']} "
            f"--batch {config['batch']} --patch {config['patch']} --lr {config['lr']} --loss {config['loss']} "
            f"--seed {config['seed']}" + (" --degradation codec" if codec else "")
            + (f" --cache {_home(config['cache'])}" if _opt(config, "cache") else "")
            + (f" --focus {config['focus']}" if _opt(config, "focus") else ""),
            "data": "T91 + BSD200 (train/ of the data root), jitter " + config["jitter"],
            "init": Path(config["init"]).parent.name + " checkpoint" if config.get("init") else "random",
            "schedule_changes": config.get("schedule_changes", []),
            "steps": step,
            "set5_psnr": round(val, 3),
        }
        prov.update(_earlier_stages(args.model, args.scale, config.get("init"), prov["command"]))
        if codec:
            meta = json.loads((cache_dir / "meta.json").read_text())
            out = "" if cache_dir == _degrade().CACHE / f"x{args.scale}" else f" --out {_home(cache_dir.parent)}"
            prov["data"] = (f"codec-degraded cache of tools/degrade.py (python -m tools.degrade --scale {args.scale} "
                            f"--count {meta['sequences']} --seed {meta['seed']}{out}: {meta['pairs']} pairs of "
                            f"{meta['size']} px LR from the 291 stills and frames of {', '.join(meta['train_clips'])})")
            prov["cache_val_psnr"] = round(validate_cache(model, cache, args.scale), 3)
            if config.get("levels_from_step") is not None:
                prov["levels_augmentation_from_step"] = config["levels_from_step"]
            if "codec fine-tune" not in prov.get("hardware", ""):
                prov["hardware"] = prov.get("hardware", "") + (
                    "; codec fine-tune: 2 CPU cores (AMD EPYC Zen 4), one thread per run, PyTorch CPU")
        prov["checkpoint"] = os.path.relpath(ckpt_path, REPO)
        path = save_weights(args.model, args.scale, model.state_dict(), prov,
                            weights="compressed" if codec else "clean")
        print(f"wrote {path} (Set5 {val:.3f} dB after {step} steps)")
        return

    rng = np.random.default_rng(args.seed + step)
    torch.manual_seed(args.seed + step)
    if codec:
        config.setdefault("levels_from_step", step)  # runs before it trained without the levels augmentation
        focus = parse_focus(_opt(config, "focus"))
        sampler = CacheSampler(cache, args.scale, args.patch, rng, focus=focus)
        log.info("codec-degraded cache: %d training pairs%s", sampler.n,
                 f", {sampler.share:.0%} of each batch from {len(sampler.focus)} at CRF {focus[0]}-{focus[1]}"
                 if focus else "")
    else:
        sampler = PatchSampler(
            load_pairs(args.data, args.scale, tuple(float(j) for j in args.jitter.split(","))), args.scale,
            args.patch, rng)
    model.train()
    t0, seen, running = time.time(), 0, 0.0
    while step < args.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr)
        x, y = sampler.batch(args.batch)
        x, y = x.to(args.device, non_blocking=True), y.to(args.device, non_blocking=True)
        loss = loss_fn(args.loss, model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        seen += 1
        running += loss.item()
        if step % 100 == 0:
            log.info("step %d/%d loss %.5f lr %.2e %.1f it/s", step, args.steps, running / 100,
                     opt.param_groups[0]["lr"], seen / (time.time() - t0))
            running = 0.0
        if step % args.val_every == 0 or step == args.steps:
            val = validate(model, args.val, args.scale)
            history.append((step, round(val, 3)))
            log.info("step %d: %s PSNR %.3f dB", step, args.val.name, val)
            if codec:
                cval = validate_cache(model, cache, args.scale)
                config.setdefault("cache_history", []).append((step, round(cval, 3)))
                log.info("step %d: degraded held-out PSNR %.3f dB", step, cval)
        if step % args.ckpt_every == 0 or step == args.steps:
            save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                         "history": history, "config": config}, ckpt_path)
    log.info("done: %d steps; history %s", step, history)


def _opt(config: dict, key: str) -> str | None:
    """An optional argument as the checkpoint's config stored it (``str(None)`` for not given), or None."""
    value = config.get(key)
    return None if value in (None, "None") else value


def _home(path) -> str:
    """``path`` with the home folder written as ``~`` (provenance readable on any machine)."""
    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text


def parse_focus(text: str | None) -> tuple[int, int, float] | None:
    """``"24-36:0.6"`` -> ``(24, 36, 0.6)``; None -> None."""
    if text is None:
        return None
    try:
        crf, share = text.split(":")
        lo, hi = (int(v) for v in crf.split("-"))
        share_f = float(share)
    except ValueError:
        raise SystemExit(f"--focus {text}: expected LO-HI:SHARE, e.g. 24-36:0.6") from None
    if not (0 <= lo <= hi and 0 < share_f <= 1):
        raise SystemExit(f"--focus {text}: need 0 <= LO <= HI and 0 < SHARE <= 1")
    return lo, hi, share_f


def _degrade():
    """:mod:`tools.degrade` (imported on demand: it needs PyAV)."""
    from tools import degrade

    return degrade


def argv_has(argv: list[str] | None, flag: str) -> bool:
    return flag in (sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
