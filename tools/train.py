"""Train one (model, scale) on a folder of images, with checkpoints that resume.

Example::

    python -m tools.train --model espcn --scale 2 --steps 40000
    python -m tools.train --model espcn --scale 2 --export   # write shipped weights

Data: every image under ``--data`` (default ``train/`` of the data root, T91 + BSD200; see
:mod:`tools.paths`), plus copies downscaled by ``--jitter`` factors. For each, HR is the
BT.601 luma of the image cropped to a multiple of the scale and LR the luma of its
antialiased bicubic downscale (the evaluation protocol). Random LR patches of ``--patch``
pixels with the matching HR patch, random flips and 90-degree rotations
(:mod:`tools.patches`). Adam with warm-up and cosine decay.

Checkpoints live outside the repository: ``--run-dir`` (default
``~/.cache/vsr/checkpoints/MODEL_xSCALE``, or under ``$VSR_CHECKPOINTS``). One is written
every ``--ckpt-every`` steps (atomically) and a run started again with the same ``--run-dir``
continues from it. ``--export`` writes the weights into the package with a provenance that
records the checkpoint's SHA-256 and the hardware each session trained on
(:mod:`tools.provenance`).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("tools.train needs PyTorch: pip install 'vsr-luma[torch]'")

from tools import provenance
from tools.patches import CacheSampler, PatchSampler, holdout, load_pairs, parse_focus
from tools.paths import add_data_root, checkpoint_root, data_root, home_relative
from vsr.models import build_model
from vsr.models.weights import save_weights, sha256_file
from vsr.output import atomic_write
from vsr.quality import downscale, modcrop, psnr, rgb_to_y

log = logging.getLogger("train")


@dataclass
class Run:
    """A training run as its checkpoint stores it.

    Attributes:
        path: the checkpoint file (``RUN_DIR/checkpoint.pt``).
        step: optimizer steps taken.
        history: ``(step, validation PSNR dB)`` pairs.
        config: the arguments the run started with (as strings), plus what it recorded on the
            way: ``schedule_changes``, ``init_sha256``, ``hardware`` (one line per machine it
            trained on), ``levels_from_step`` and ``cache_history`` for codec runs.
    """

    path: Path
    step: int = 0
    history: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def save(self, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        """Write the checkpoint atomically (model, optimizer state, step, history, config)."""
        save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": self.step,
                     "history": self.history, "config": self.config}, self.path)


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--scale", type=int, required=True)
    ap.add_argument("--data", type=Path, help="training images (default: train/ under the data root)")
    ap.add_argument("--val", type=Path, help="validation images (default: val/Set5 under the data root)")
    add_data_root(ap)
    ap.add_argument("--degradation", choices=["bicubic", "codec"], default="bicubic",
                    help="LR of the pairs: clean bicubic (the 'clean' weight set) or the codec-degraded cache "
                    "of tools.degrade (the 'compressed' set)")
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
    ap.add_argument("--run-dir", type=Path, help="checkpoint folder (default: MODEL_xSCALE under $VSR_CHECKPOINTS, "
                    "else ~/.cache/vsr/checkpoints)")
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--val-every", type=int, default=2000)
    ap.add_argument("--init", type=Path, help="start from this checkpoint or weights file (e.g. the x2 model when "
                    "training x3): every tensor whose shape matches is copied, the rest stay freshly initialised")
    ap.add_argument("--export", action="store_true", help="write the checkpoint's weights into the package and exit")
    args = ap.parse_args(argv)
    args.data = args.data or data_root(args.data_root) / "train"
    args.val = args.val or data_root(args.data_root) / "val" / "Set5"
    return args


def resume(run: Run, model: torch.nn.Module, opt: torch.optim.Optimizer, args: argparse.Namespace,
           argv: list[str] | None) -> bool:
    """Continue from ``run.path`` if it exists: weights, optimizer, step, history and config.
    A ``--steps`` given again with another value changes the schedule's length (recorded in
    ``schedule_changes``); otherwise the stored length holds. Returns whether it resumed."""
    if not run.path.exists():
        return False
    ck = torch.load(run.path, map_location=args.device, weights_only=False)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    run.step, run.history, run.config = ck["step"], ck["history"], ck["config"]
    log.info("resumed %s at step %d", run.path, run.step)
    if argv_has(argv, "--steps") and str(args.steps) != run.config["steps"]:
        run.config.setdefault("schedule_changes", []).append([run.step, args.steps])
        log.info("schedule length changed to %d steps at step %d", args.steps, run.step)
    else:
        args.steps = int(run.config["steps"])
    run.config["steps"] = str(args.steps)
    return True


def initialise(run: Run, model: torch.nn.Module, args: argparse.Namespace) -> None:
    """``--init``: copy every tensor of that checkpoint or weights file whose shape matches
    (the rest stay freshly initialised); its path and SHA-256 go into the config."""
    src = torch.load(args.init, map_location=args.device, weights_only=False)
    src = src.get("model", src)
    own = model.state_dict()
    same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(same, strict=False)
    run.config["init"] = str(args.init)
    run.config["init_sha256"] = sha256_file(args.init)
    log.info("initialised %d of %d tensors from %s", len(same), len(own), args.init)


def codec_cache(config: dict, scale: int) -> tuple[Path, dict[str, np.ndarray]] | None:
    """The degraded cache (folder, arrays) of a ``--degradation codec`` run, else None."""
    if config.get("degradation", "bicubic") != "codec":
        return None
    folder = Path(config["cache"]) if _opt(config, "cache") else _degrade().CACHE / f"x{scale}"
    return folder, _degrade().load_cache(folder)


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, run: Run, args: argparse.Namespace,
          cache: tuple[Path, dict[str, np.ndarray]] | None) -> None:
    """Train from ``run.step`` to ``args.steps``, validating every ``--val-every`` steps and
    writing the checkpoint every ``--ckpt-every`` steps and at the end."""
    here = provenance.hardware(args.device)
    if here not in run.config.setdefault("hardware", []):
        run.config["hardware"].append(here)
    log.info("hardware: %s", here)
    rng = np.random.default_rng(args.seed + run.step)
    torch.manual_seed(args.seed + run.step)
    if cache:
        run.config.setdefault("levels_from_step", run.step)  # runs before it trained without the levels augmentation
        focus = parse_focus(_opt(run.config, "focus"))
        sampler = CacheSampler(cache[1], args.scale, args.patch, rng, focus=focus)
        log.info("codec-degraded cache: %d training pairs%s", sampler.n,
                 f", {sampler.share:.0%} of each batch from {len(sampler.focus)} at CRF {focus[0]}-{focus[1]}"
                 if focus else "")
    else:
        sampler = PatchSampler(
            load_pairs(args.data, args.scale, tuple(float(j) for j in args.jitter.split(","))), args.scale,
            args.patch, rng)
    run.path.parent.mkdir(parents=True, exist_ok=True)
    model.train()
    t0, seen, running = time.time(), 0, 0.0
    while run.step < args.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(run.step, args.steps, args.lr)
        x, y = sampler.batch(args.batch)
        x, y = x.to(args.device, non_blocking=True), y.to(args.device, non_blocking=True)
        loss = loss_fn(args.loss, model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.step += 1
        seen += 1
        running += loss.item()
        step = run.step
        if step % 100 == 0:
            log.info("step %d/%d loss %.5f lr %.2e %.1f it/s", step, args.steps, running / 100,
                     opt.param_groups[0]["lr"], seen / (time.time() - t0))
            running = 0.0
        if step % args.val_every == 0 or step == args.steps:
            val = validate(model, args.val, args.scale)
            run.history.append((step, round(val, 3)))
            log.info("step %d: %s PSNR %.3f dB", step, args.val.name, val)
            if cache:
                cval = validate_cache(model, cache[1], args.scale)
                run.config.setdefault("cache_history", []).append((step, round(cval, 3)))
                log.info("step %d: degraded held-out PSNR %.3f dB", step, cval)
        if step % args.ckpt_every == 0 or step == args.steps:
            run.save(model, opt)
    log.info("done: %d steps; history %s", run.step, run.history)


def export(model: torch.nn.Module, run: Run, args: argparse.Namespace,
           cache: tuple[Path, dict[str, np.ndarray]] | None) -> Path:
    """Write the checkpoint's weights into the package (the ``compressed`` set for a codec run)
    with their provenance; returns the weights file."""
    if not run.path.exists():
        raise SystemExit(f"no checkpoint at {run.path}")
    config = run.config
    val = validate(model.cpu(), args.val, args.scale)
    prov = {
        "command": f"python -m tools.train --model {args.model} --scale {args.scale} --steps {config['steps']} "
        f"--batch {config['batch']} --patch {config['patch']} --lr {config['lr']} --loss {config['loss']} "
        f"--seed {config['seed']}" + (" --degradation codec" if cache else "")
        + (f" --cache {home_relative(config['cache'])}" if _opt(config, "cache") else "")
        + (f" --focus {config['focus']}" if _opt(config, "focus") else ""),
        "data": "T91 + BSD200 (train/ of the data root), jitter " + config["jitter"],
        "init": Path(config["init"]).parent.name + " checkpoint" if config.get("init") else "random",
        "schedule_changes": config.get("schedule_changes", []),
        "steps": run.step,
        "set5_psnr": round(val, 3),
    }
    if config.get("init_sha256"):
        prov["init_sha256"] = config["init_sha256"]
    prov.update(provenance.earlier_stages(args.model, args.scale, config.get("init"), prov["command"]))
    if cache:
        folder = cache[0]
        meta = json.loads((folder / "meta.json").read_text())
        out = "" if folder == _degrade().CACHE / f"x{args.scale}" else f" --out {home_relative(folder.parent)}"
        prov["data"] = (f"codec-degraded cache of tools/degrade.py (python -m tools.degrade --scale {args.scale} "
                        f"--count {meta['sequences']} --seed {meta['seed']}{out}: {meta['pairs']} pairs of "
                        f"{meta['size']} px LR from the 291 stills and frames of {', '.join(meta['train_clips'])})")
        prov["cache_val_psnr"] = round(validate_cache(model, cache[1], args.scale), 3)
        if config.get("levels_from_step") is not None:
            prov["levels_augmentation_from_step"] = config["levels_from_step"]
    this = "; ".join(config.get("hardware") or ["not recorded (the checkpoint predates hardware recording)"])
    if "hardware" not in prov:
        prov["hardware"] = this
    elif this not in prov["hardware"]:
        prov["hardware"] += f"; {'codec fine-tune' if cache else 'continuation'}: {this}"
    prov.update(provenance.checkpoint_record(run.path))
    path = save_weights(args.model, args.scale, model.state_dict(), prov, weights="compressed" if cache else "clean")
    print(f"wrote {path} (Set5 {val:.3f} dB after {run.step} steps)")
    return path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = args.run_dir or checkpoint_root() / f"{args.model}_x{args.scale}"
    model = build_model(args.model, args.scale).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    run = Run(run_dir / "checkpoint.pt", config={k: str(v) for k, v in vars(args).items() if k != "export"})
    if not resume(run, model, opt, args, argv) and args.init:
        initialise(run, model, args)
    cache = codec_cache(run.config, args.scale)
    if args.export:
        export(model, run, args, cache)
    else:
        train(model, opt, run, args, cache)


def _opt(config: dict, key: str) -> str | None:
    """An optional argument as the checkpoint's config stored it (``str(None)`` for not given), or None."""
    value = config.get(key)
    return None if value in (None, "None") else value


def _degrade():
    """:mod:`tools.degrade` (imported on demand: it needs PyAV)."""
    from tools import degrade

    return degrade


def argv_has(argv: list[str] | None, flag: str) -> bool:
    return flag in (sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
