"""PSNR and SSIM of the shipped networks on Set5 and Set14, with a bicubic baseline beside.

The protocol of the SR literature (see ``vsr.quality``): HR cropped to a multiple of
the scale, LR by antialiased bicubic downscaling, the network on the LR luma
(BT.601 Y / 255), its output clamped to [0, 1], times 255 and rounded, then PSNR and
SSIM against the HR luma with ``scale`` pixels shaved from each border. The bicubic
baseline upscales the LR RGB with Pillow's BICUBIC and measures its luma the same way.

Examples::

    python -m tools.evaluate                                  # every shipped model, Set5 + Set14
    python -m tools.evaluate --model espcn --scale 2 --sets Set5 --out results.md
    python -m tools.evaluate --checkpoint /path/to/run/checkpoint.pt   # a training run
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tools.paths import add_data_root, data_root
from vsr.models import build_model
from vsr.models.weights import list_models, create_model
from vsr.quality import downscale, modcrop, psnr, rgb_to_y, ssim

log = logging.getLogger("evaluate")


@dataclass(frozen=True)
class Score:
    """Mean PSNR (dB) and SSIM over one image set."""

    psnr: float
    ssim: float


def load_hr(path: Path) -> np.ndarray:
    """An evaluation image: ``(H, W, 3)`` uint8 RGB, or ``(H, W)`` uint8 for grayscale files."""
    im = Image.open(path)
    return np.asarray(im if im.mode == "L" else im.convert("RGB"))


@torch.no_grad()
def sr_luma(net: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    """The network's luma for an LR image.

    Args:
        net: a float32 CPU network in eval mode, ``(1, 1, h, w)`` in [0, 1] -> ``(1, 1, sh, sw)``.
        lr: ``(h, w, 3)`` or ``(h, w)`` uint8.

    Returns:
        ``(sh, sw)`` float64 luma in [0, 255], integer-valued (clamped and rounded).
    """
    y = torch.from_numpy(rgb_to_y(lr) / 255.0).float()[None, None]
    return np.rint(net(y).clamp(0, 1)[0, 0].double().numpy() * 255.0)


def bicubic_luma(lr: np.ndarray, scale: int) -> np.ndarray:
    """``(sh, sw)`` float64 luma of the LR image upscaled with Pillow's BICUBIC (RGB or gray)."""
    h, w = lr.shape[:2]
    return rgb_to_y(np.asarray(Image.fromarray(lr).resize((w * scale, h * scale), Image.BICUBIC)))


def score_image(hr: np.ndarray, scale: int, net: torch.nn.Module | None) -> tuple[float, float]:
    """(PSNR, SSIM) of one HR image: the network's, or bicubic's when ``net`` is None."""
    hr = modcrop(hr, scale)
    lr = downscale(hr, scale)
    out = bicubic_luma(lr, scale) if net is None else sr_luma(net, lr)
    ref = rgb_to_y(hr)
    return psnr(out, ref, scale), ssim(out, ref, scale)


def score_set(folder: Path, scale: int, net: torch.nn.Module | None) -> Score:
    """Mean :func:`score_image` over every PNG in ``folder``."""
    files = sorted(folder.glob("*.png"))
    if not files:
        raise SystemExit(f"no PNG images in {folder}")
    vals = np.array([score_image(load_hr(f), scale, net) for f in files])
    log.debug("%s x%d %s: %s", folder.name, scale, "bicubic" if net is None else "net", vals[:, 0].round(2))
    return Score(float(vals[:, 0].mean()), float(vals[:, 1].mean()))


def load_checkpoint(path: Path) -> tuple[str, int, torch.nn.Module, str]:
    """(model, scale, network, label) from a ``tools/train.py`` checkpoint (trusted file: it is unpickled)."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    name, scale = ck["config"]["model"], int(ck["config"]["scale"])
    net = build_model(name, scale)
    net.load_state_dict(ck["model"])
    return name, scale, net.eval(), f"{name} (ckpt step {ck['step']})"


def table(rows: list[tuple[str, int, str, Score, Score]]) -> str:
    """Markdown table of (label, scale, set, network score, bicubic score) rows."""
    lines = [
        "| model | scale | set | PSNR (dB) | SSIM | bicubic PSNR | bicubic SSIM | gain (dB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, scale, name, s, b in rows:
        lines.append(f"| {label} | x{scale} | {name} | {s.psnr:.2f} | {s.ssim:.4f} | {b.psnr:.2f} | {b.ssim:.4f} "
                     f"| {s.psnr - b.psnr:+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    """Evaluate and print the table; returns it too."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", help="only this architecture (repeatable; default: every shipped)")
    ap.add_argument("--scale", type=int, action="append", help="only this scale (repeatable)")
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14"], help="folders under --val")
    ap.add_argument("--val", type=Path, help="folder holding the image sets (default: val/ under the data root)")
    ap.add_argument("--checkpoint", type=Path, help="evaluate this training checkpoint instead of shipped weights")
    ap.add_argument("--weights", default="clean", choices=("clean", "compressed"), help="weight set (default clean)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--out", type=Path, help="also write the markdown table to this file")
    ap.add_argument("-v", "--verbose", action="store_true")
    add_data_root(ap)
    args = ap.parse_args(argv)
    args.val = args.val or data_root(args.data_root) / "val"
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.checkpoint:
        name, scale, net, label = load_checkpoint(args.checkpoint)
        jobs = [(label, scale, lambda net=net: net)]
    else:
        specs = [s for s in list_models(args.weights)
                 if (not args.model or s.name in args.model) and (not args.scale or s.scale in args.scale)]
        if not specs:
            raise SystemExit("no shipped weights match --model/--scale (see vsr models)")
        label = "" if args.weights == "clean" else f" ({args.weights})"
        jobs = [(s.name + label, s.scale, lambda s=s: create_model(s.name, s.scale, s.weights)) for s in specs]

    bicubic: dict[tuple[int, str], Score] = {}
    rows = []
    for label, scale, get_net in jobs:
        net = get_net()
        for set_name in args.sets:
            folder = args.val / set_name
            if (scale, set_name) not in bicubic:
                bicubic[scale, set_name] = score_set(folder, scale, None)
            rows.append((label, scale, set_name, score_set(folder, scale, net), bicubic[scale, set_name]))
            log.info("%s x%d %s: %.2f dB", label, scale, set_name, rows[-1][3].psnr)
    text = table(rows)
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return text


if __name__ == "__main__":
    main()
