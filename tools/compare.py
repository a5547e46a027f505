"""Side-by-side crops of HR, bicubic and every shipped model at one scale, as a PNG for the docs.

The HR image is cropped to a multiple of the scale and downscaled with the evaluation
protocol (antialiased bicubic); bicubic (Pillow) and each model (``vsr.upscale_image``:
network on luma, bicubic chroma) upscale it back. Each panel shows the same crop,
enlarged with nearest neighbour so pixels stay visible, labelled with the method and
its luma PSNR over the whole image (``scale`` pixels shaved). A thumbnail of the
whole image with the crop outlined comes first.

Example::

    python -m tools.compare --scale 2                      # -> docs/compare_x2.png
    python -m tools.compare --image ../shared/data/val/Set14/zebra.png --scale 3 --crop 200,100,64
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tools.paths import REPO, add_data_root, data_root
from vsr.image import read_image, upscale_image
from vsr.models.weights import list_models
from vsr.quality import downscale, modcrop, psnr, rgb_to_y

log = logging.getLogger("compare")
PAD, LABEL_H = 8, 22


def panels(hr: np.ndarray, scale: int, models: list[str], backend: str) -> list[tuple[str, np.ndarray]]:
    """(label, ``(H, W, 3)`` uint8 RGB) for HR, bicubic and each model, all at HR size."""
    lr = downscale(hr, scale)
    ref = rgb_to_y(hr)
    out = [("HR (original)", hr)]
    bicubic = np.asarray(Image.fromarray(lr).resize(hr.shape[1::-1], Image.BICUBIC))
    out.append((f"bicubic {psnr(rgb_to_y(bicubic), ref, scale):.2f} dB", bicubic))
    for name in models:
        sr = upscale_image(lr, model=name, scale=scale, backend=backend)
        out.append((f"{name} {psnr(rgb_to_y(sr), ref, scale):.2f} dB", sr))
        log.info("%s", out[-1][0])
    return out


def compose(hr: np.ndarray, items: list[tuple[str, np.ndarray]], box: tuple[int, int, int], zoom: int,
            title: str) -> Image.Image:
    """One labelled row: thumbnail with the crop outlined, then each crop enlarged ``zoom`` times."""
    x, y, size = box
    side = size * zoom
    font = ImageFont.load_default(size=14)
    thumb = Image.fromarray(hr)
    thumb.thumbnail((side, side), Image.LANCZOS)
    f = thumb.width / hr.shape[1]
    ImageDraw.Draw(thumb).rectangle([x * f, y * f, (x + size) * f, (y + size) * f], outline=(255, 0, 0), width=2)
    tiles = [(title, thumb)] + [(label, Image.fromarray(img[y : y + size, x : x + size]).resize((side, side),
                                                                                                   Image.NEAREST))
                                for label, img in items]
    canvas = Image.new("RGB", (PAD + len(tiles) * (side + PAD), LABEL_H + side + PAD), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, tile) in enumerate(tiles):
        left = PAD + i * (side + PAD)
        draw.text((left, 4), label, fill="black", font=font)
        canvas.paste(tile, (left, LABEL_H))
    return canvas


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", type=Path, help="HR image (default: Set5 butterfly under the data root)")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--model", action="append", help="only this model (repeatable; default: every shipped one)")
    ap.add_argument("--crop", help="X,Y,SIZE of the square crop in HR pixels (default: 72 px at the centre)")
    ap.add_argument("--zoom", type=int, default=3, help="nearest-neighbour enlargement of the crops")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--out", type=Path, help="PNG to write (default: docs/compare_xSCALE.png)")
    add_data_root(ap)
    args = ap.parse_args(argv)
    args.image = args.image or data_root(args.data_root) / "val" / "Set5" / "butterfly.png"
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    models = args.model or [s.name for s in list_models("clean") if s.scale == args.scale]
    if not models:
        raise SystemExit(f"no shipped models at x{args.scale} (see vsr models)")
    img = read_image(args.image)
    hr = modcrop(np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img, args.scale)
    h, w = hr.shape[:2]
    if args.crop:
        x, y, size = (int(v) for v in args.crop.split(","))
    else:
        size = min(72, h, w)
        x, y = (w - size) // 2, (h - size) // 2
    if not (0 <= x and 0 <= y and size > 0 and x + size <= w and y + size <= h):
        raise SystemExit(f"crop {x},{y},{size} does not fit in the {w}x{h} image")

    sheet = compose(hr, panels(hr, args.scale, models, args.backend), (x, y, size), args.zoom,
                    f"{args.image.stem} x{args.scale}")
    out = args.out or REPO / "docs" / f"compare_x{args.scale}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"wrote {out} ({sheet.width}x{sheet.height})")
    return out


if __name__ == "__main__":
    main()
