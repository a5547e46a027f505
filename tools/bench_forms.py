"""FSRCNN's two exact forms, timed on each CPU runtime: transposed convolution vs sub-pixel.

Example::

    python -m tools.bench_forms --size 640x360 --threads 1 --repeat 5

Prints the median time of one frame per (runtime, scale, form) and the ratio
deconvolution / sub-pixel (above 1: the sub-pixel rewrite is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vsr.models import build_model
from vsr.models.export import export_onnx


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="640x360", help="input luma WxH")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    y = torch.rand(1, 1, h, w)
    print("| runtime | scale | deconvolution ms | sub-pixel ms | deconv / sub-pixel |\n|---|---|---|---|---|")
    for scale in (2, 3, 4):
        model = build_model("fsrcnn", scale).eval()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        times = {}
        for sub in (False, True):
            s = ort.InferenceSession(export_onnx(model, subpixel=sub), opts, providers=["CPUExecutionProvider"])
            times[("onnxruntime", sub)] = median_ms(lambda: s.run(None, {"y": y.numpy()}), args.repeat)
            m = build_model("fsrcnn", scale).eval()
            m = m.to_subpixel() if sub else m
            with torch.inference_mode():
                times[("torch", sub)] = median_ms(lambda: m(y), args.repeat)
        for rt in ("onnxruntime", "torch"):
            d, s_ = times[(rt, False)], times[(rt, True)]
            print(f"| {rt} | x{scale} | {d:.1f} | {s_:.1f} | {d / s_:.2f} |")


if __name__ == "__main__":
    main()
