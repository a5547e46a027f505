"""What to expect on compressed video: a crop of a real frame, bicubic against vsr with the clean
and the compressed weights, labelled with the gain measured on the whole clip (README's "What to
expect" picture).

The protocol is ``tools/evaluate_video.py``'s: HR is ``--frames`` frames of the clip (yuv420p,
cropped to a multiple of ``2*scale``); LR is HR scaled by ``1/scale`` with swscale bicubic and
encoded with libx264 preset medium at ``--crf`` (default 30, a typical web rate); bicubic
(swscale) and ``vsr.upscale_video`` (FFV1 output, lossless) upscale the LR file back; luma PSNR
against HR over the whole clip, ``scale`` pixels shaved. The picture shows one frame (the middle
one by default): a thumbnail with the crop outlined, then the crop of the original, bicubic and
each weight set, enlarged ``--zoom`` times with nearest neighbour. The crop is the square with the
most detail in the original (largest luma gradient energy), chosen without looking at any
method's output.

Example::

    python -m tools.expect                      # the shipped sample -> docs/expect_x2.png, docs/expect_x2.json
    python -m tools.expect --clip ../shared/data/video/bbb_2500ms.ts --out /tmp/bbb.png --json /tmp/bbb.json
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from tools import evaluate_video as ev
from tools.compare import compose
from tools.paths import REPO
from vsr.models import DEFAULT_MODEL

log = logging.getLogger("expect")


def busiest_square(y: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left ``(x, y)`` of the ``size`` square of ``y`` (a luma plane) with the largest gradient energy."""
    from vsr.demo import busiest_window

    g = np.zeros_like(y)
    g[:, 1:] += np.abs(np.diff(y, axis=1))
    g[1:, :] += np.abs(np.diff(y, axis=0))
    return busiest_window(g, size, size)


def measure(clip: Path, scale: int, crf: str, frames: int, model: str, sets: list[str], work: Path,
            backend: str = "auto") -> tuple[dict, dict[str, list]]:
    """Figures ``{clip, scale, crf, frames, size, bpp, bicubic_psnr, gains: {set: dB}, psnr: {set: dB}}``
    and the frames (``av.VideoFrame`` lists) of ``hr``, ``bicubic`` and each set."""
    import vsr

    hr_frames, rate = ev.read_hr(clip, frames, scale)
    size = (hr_frames[0].width, hr_frames[0].height)
    lr_path = work / "lr.mkv"
    ev.write_lr(hr_frames, scale, crf, rate, lr_path)
    hr = [ev.luma(f) for f in hr_frames]
    bicubic = [f.reformat(size[0], size[1], interpolation="BICUBIC") for f in ev.decode(lr_path)]
    b_psnr = ev.score(hr, [ev.luma(f) for f in bicubic], scale, len(hr))[0]
    shown = {"hr": hr_frames, "bicubic": bicubic}
    figures = {"clip": clip.name, "scale": scale, "crf": crf, "frames": len(hr), "size": f"{size[0]}x{size[1]}",
               "model": model, "bpp": round(ev.bits_per_pixel(lr_path, len(hr), (size[0] // scale, size[1] // scale)), 4),
               "bicubic_psnr": round(b_psnr, 3), "psnr": {}, "gains": {}}
    for weights in sets:
        out = work / f"sr_{weights}.mkv"
        vsr.upscale_video(lr_path, out, model=model, scale=scale, weights=weights, backend=backend, codec="ffv1",
                          overwrite=True)
        shown[weights] = ev.decode(out)
        p = ev.score(hr, [ev.luma(f) for f in shown[weights]], scale, len(hr))[0]
        figures["psnr"][weights] = round(p, 3)
        figures["gains"][weights] = round(p - b_psnr, 3)
        log.info("%s %s: %.2f dB (%+.2f over bicubic)", model, weights, p, p - b_psnr)
    return figures, shown


def main(argv: list[str] | None = None) -> dict:
    from vsr.samples import sample_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", type=Path, default=None, help="a video (default: the shipped sample, bikes.mp4)")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--crf", default="30", help="x264 CRF of the LR (default 30)")
    ap.add_argument("--frames", type=int, default=24, help="frames measured (default 24)")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--frame", type=int, default=None, help="frame shown (default: the middle one)")
    ap.add_argument("--crop", help="X,Y,SIZE of the square crop in HR pixels (default: 96 px, the most detailed)")
    ap.add_argument("--zoom", type=int, default=3)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--out", type=Path, help="PNG to write (default: docs/expect_xSCALE.png)")
    ap.add_argument("--json", type=Path, help="figures to write (default: docs/expect_xSCALE.json)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    clip = args.clip or sample_path()
    sets = ["clean", "compressed"]
    with tempfile.TemporaryDirectory(prefix="vsr-expect-") as tmp:
        figures, shown = measure(clip, args.scale, args.crf, args.frames, args.model, sets, Path(tmp), args.backend)
    k = len(shown["hr"]) // 2 if args.frame is None else args.frame
    hr = shown["hr"][k].to_ndarray(format="rgb24")
    if args.crop:
        x, y, size = (int(v) for v in args.crop.split(","))
    else:
        size = min(96, *hr.shape[:2])
        x, y = busiest_square(ev.luma(shown["hr"][k]), size)
    b = figures["bicubic_psnr"]
    items = [("original", hr), (f"bicubic {b:.2f} dB", shown["bicubic"][k].to_ndarray(format="rgb24"))]
    items += [(f"vsr {w} {figures['psnr'][w]:.2f} ({figures['gains'][w]:+.2f})", shown[w][k].to_ndarray(format="rgb24"))
              for w in sets]
    title = f"{clip.name} x{args.scale}, CRF {args.crf}"
    sheet = compose(hr, items, (x, y, size), args.zoom, title)
    out = args.out or REPO / "docs" / f"expect_x{args.scale}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    figures.update(frame=k, crop=[x, y, size])
    path = args.json or out.with_suffix(".json")
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out} ({sheet.width}x{sheet.height}) and {path}: bicubic {b:.2f} dB; "
          + ", ".join(f"{w} {g:+.2f} dB" for w, g in figures["gains"].items()))
    return figures


if __name__ == "__main__":
    main()
