"""Make the int8 graphs OpenVINO runs with ``--precision int8``: NNCF post-training quantisation
of each shipped residual graph, its Set5/Set14 cost measured, all recorded in the manifest.

    python -m tools.quantize                                   # every shipped (model, scale, set)
    python -m tools.quantize --model espcn --scale 2 --weights clean
    python -m tools.quantize --check                           # exit 1 if a shipped int8 graph is stale
    python -m tools.quantize --speed                           # re-measure int8 vs bf16 speed here

Needs NNCF (``pip install -e .[quantize]``) and the data root's training and Set5/Set14 folders.

What is quantised and why (docs/models.md, "INT8"):

* Calibration reads training data only: a luma crop of every other training still
  (``train/T91``, ``train/BSD200``) and frames of the three training clips
  (``video/bigbuckbunny.mp4``, ``chaplin.mp4``, ``big_buck_bunny_0_30.webm``); never Set5,
  Set14 or the evaluation clips. Crops are drawn with a fixed seed, so the same data and
  weights give the same graph, byte for byte.
* Activations: asymmetric int8 ranges from the calibration minimum and maximum (PReLU outputs
  are lopsided; the default mean-of-maxima range clipped the brightest luma and cost ESPCN
  x2 0.2 dB on Set5). The input's quantiser is set to step 1/255 from 0, exact for 8-bit code
  values (studio-range calibration data alone would clip full-range video at 235/255).
* Biases are corrected layer by layer (NNCF's full bias correction, not the fast one: ESPCN x2
  Set5 -0.054 dB with the fast one, -0.044 with this).
* The last convolution stays in floating point: it writes the residual the output pixels are
  made of, so its rounding shows 1:1 in the picture (ESPCN x2 Set5: -0.09 dB with it in int8,
  -0.05 without). Everything before it is int8. The input add and the pixel shuffle stay
  float32 outside the graph, as for bf16 (:mod:`vsr.backends.openvino`).
* Quality: Set5 and Set14 PSNR of the int8 graph against the float32 graph, both run by
  OpenVINO with the protocol of ``tools/evaluate.py``. ``passed`` is true when neither set
  loses more than 0.05 dB; ``--precision auto`` uses only graphs that passed and were faster
  than bf16 on the machine that made them (``speedup_vs_bf16``: a 1920x1080 luma plane on one
  thread, as each of the pipeline's workers runs it on a 2-core machine; on 2 threads in one
  call ESPCN x2 measured 1.46x, on one 1.09x, and end to end at 4K int8 was not faster).
  ``--speed`` re-measures only that, for the shipped graphs, on this machine.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from tools.evaluate import load_hr
from tools.paths import add_data_root, data_root
from vsr.models.weights import ModelSpec, list_models, save_graphs
from vsr.quality import downscale, modcrop, psnr, rgb_to_y

log = logging.getLogger("quantize")

TRAIN_STILLS = ("train/T91", "train/BSD200")
TRAIN_CLIPS = ("video/bigbuckbunny.mp4", "video/chaplin.mp4", "video/big_buck_bunny_0_30.webm")
MAX_LOSS_DB = 0.05
CROP = 96
FRAMES_PER_CLIP = 24
SEED = 0


def _crop(rng: np.random.Generator, y: np.ndarray, size: int = CROP) -> np.ndarray:
    h, w = y.shape
    s = min(size, h, w)
    i, j = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    return np.ascontiguousarray(y[i : i + s, j : j + s])


def calibration_set(root: Path) -> list[np.ndarray]:
    """Luma crops ``(1, 1, h, w)`` float32 in [0, 1] from the training stills and clips."""
    from PIL import Image

    from vsr.media.decode import Decoder

    rng = np.random.default_rng(SEED)
    out = []
    stills = sorted(p for d in TRAIN_STILLS for p in (root / d).iterdir() if p.suffix.lower() in (".bmp", ".png"))
    if not stills:
        raise SystemExit(f"no training stills under {root} (see shared/data/SOURCES.md)")
    for path in stills[::2]:
        out.append(_crop(rng, rgb_to_y(np.asarray(Image.open(path).convert("RGB"))) / 255.0))
    for clip in TRAIN_CLIPS:
        dec = Decoder(root / clip)
        try:
            frames = [f for _, f in zip(range(240), dec)]
        finally:
            dec.close()
        for f in frames[:: max(1, len(frames) // FRAMES_PER_CLIP)][:FRAMES_PER_CLIP]:
            out.append(_crop(rng, f.planes[0] / float(2**f.bit_depth - 1), 2 * CROP))
    return [c.astype(np.float32)[None, None] for c in out]


def _last_conv(model) -> str:
    return [n.name for n in model.graph.node if n.op_type == "Conv"][-1]


def quantize(residual: bytes, samples: list[np.ndarray]) -> tuple[bytes, list[str]]:
    """The int8 graph of a residual graph, and the names of the layers kept in float."""
    import nncf
    import onnx
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet
    from onnx import numpy_helper

    model = onnx.load_from_string(residual)
    name = model.graph.input[0].name
    keep = [_last_conv(model)]
    params = AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    q = nncf.quantize(model, nncf.Dataset(samples, lambda x: {name: x}), subset_size=len(samples),
                      preset=nncf.QuantizationPreset.MIXED, ignored_scope=nncf.IgnoredScope(names=keep),
                      fast_bias_correction=False, advanced_parameters=params)
    inits = {i.name: i for i in q.graph.initializer}
    first = next(n for n in q.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == name)
    inits[first.input[1]].CopyFrom(numpy_helper.from_array(np.array(1 / 255, np.float32), first.input[1]))
    inits[first.input[2]].CopyFrom(numpy_helper.from_array(np.array(0, np.uint8), first.input[2]))
    return q.SerializeToString(), keep


def _compile(graph: bytes, precision: str, shape: tuple[int, ...] | None = None, threads: int = 2):
    from vsr.backends.openvino import _openvino

    core = _openvino().Core()
    model = core.read_model(graph)
    if shape:
        model.reshape(list(shape))
    return core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
                                             "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(threads)})


def _run(compiled, y: np.ndarray, scale: int) -> np.ndarray:
    from vsr.backends.openvino import add_shuffle

    return add_shuffle(compiled({0: y})[0], y, scale)


def set_psnr(graph: bytes, precision: str, folder: Path, scale: int) -> float:
    """Mean PSNR (dB) over ``folder``'s PNGs, the protocol of ``tools/evaluate.py``, run by OpenVINO."""
    compiled = _compile(graph, precision)
    vals = []
    for path in sorted(folder.glob("*.png")):
        hr = modcrop(load_hr(path), scale)
        y = (rgb_to_y(downscale(hr, scale)) / 255.0).astype(np.float32)[None, None]
        out = np.rint(np.clip(_run(compiled, y, scale)[0, 0], 0, 1).astype(np.float64) * 255.0)
        vals.append(psnr(out, rgb_to_y(hr), scale))
    if not vals:
        raise SystemExit(f"no PNG images in {folder}")
    return float(np.mean(vals))


def speedup(residual: bytes, int8: bytes, repeat: int = 5) -> float:
    """bf16 time / int8 time of one 1920x1080 luma plane on one thread (medians, interleaved runs)."""
    shape = (1, 1, 1080, 1920)
    x = np.random.default_rng(SEED).random(shape, dtype=np.float32)
    runs = {k: _compile(g, "bf16", shape, 1).create_infer_request() for k, g in (("bf16", residual), ("int8", int8))}
    times = {k: [] for k in runs}
    for _ in range(repeat + 1):
        for k, req in runs.items():
            t = time.perf_counter()
            req.infer({0: x})
            times[k].append(time.perf_counter() - t)
    return float(np.median(times["bf16"][1:]) / np.median(times["int8"][1:]))


def quality(spec: ModelSpec, int8: bytes, val: Path) -> dict:
    """Set5/Set14 PSNR of the float32 and the int8 graph, and whether int8 kept within the bound."""
    residual = spec.graph("residual")
    out = {}
    for name in ("Set5", "Set14"):
        f32 = set_psnr(residual, "f32", val / name, spec.scale)
        q = set_psnr(int8, "bf16", val / name, spec.scale)
        out[name.lower()] = {"f32": round(f32, 3), "int8": round(q, 3)}
    out["passed"] = all(v["f32"] - v["int8"] <= MAX_LOSS_DB for k, v in out.items())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", help="only this architecture (repeatable)")
    ap.add_argument("--scale", type=int, action="append", help="only this scale (repeatable)")
    ap.add_argument("--weights", action="append", help="only this weight set (repeatable)")
    ap.add_argument("--check", action="store_true", help="only check that the shipped int8 graphs are current")
    ap.add_argument("--speed", action="store_true", help="only re-measure and record the shipped int8 graphs' speed")
    add_data_root(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("nncf").setLevel(logging.WARNING)
    root = data_root(args.data_root)
    specs = [s for s in list_models() if (not args.model or s.name in args.model)
             and (not args.scale or s.scale in args.scale) and (not args.weights or s.weights in args.weights)]
    if args.speed:
        for spec in specs:
            ratio = speedup(spec.graph("residual"), spec.graph("int8"))
            entry = dict(spec.graphs["int8"], speedup_vs_bf16=round(ratio, 2), measured_on=_cpu_name())
            save_graphs(spec, {"int8": spec.graph("int8")}, spec.receptive_radius, {"int8": entry})
            print(f"{spec.key}: {entry['speedup_vs_bf16']:.2f}x bf16's speed")
        return 0
    samples = calibration_set(root)
    stale = []
    for spec in specs:
        residual = spec.graph("residual")
        int8, keep = quantize(residual, samples)
        if args.check:
            if spec.graph("int8") != int8:
                stale.append(spec.key)
            continue
        entry = {"float_layers": keep, "calibration": f"{len(samples)} luma crops of training stills and clips "
                                                     f"(seed {SEED})"}
        entry["quality"] = quality(spec, int8, root / "val")
        entry["speedup_vs_bf16"] = round(speedup(residual, int8), 2)
        entry["measured_on"] = _cpu_name()
        save_graphs(spec, {"int8": int8}, spec.receptive_radius, {"int8": entry})
        qual = entry["quality"]
        print(f"{spec.key}: {len(int8) / 1024:.0f} KiB, Set5 {qual['set5']['f32']:.3f} -> {qual['set5']['int8']:.3f}, "
              f"Set14 {qual['set14']['f32']:.3f} -> {qual['set14']['int8']:.3f} dB, "
              f"{'passed' if qual['passed'] else 'FAILED'} the {MAX_LOSS_DB} dB bound; "
              f"{entry['speedup_vs_bf16']:.2f}x bf16's speed")
    if stale:
        print(f"stale or missing int8 graphs: {', '.join(stale)} (run python -m tools.quantize)")
        return 1
    return 0


def _cpu_name() -> str:
    from vsr.devices import cpu_features

    cpu = cpu_features()
    return f"{cpu['model']}, {cpu['cores']} vCPUs"


if __name__ == "__main__":
    sys.exit(main())
