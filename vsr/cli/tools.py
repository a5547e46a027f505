"""``vsr export``, ``engine``, ``image``, ``models`` and ``info``."""

from __future__ import annotations

import argparse
from pathlib import Path

from vsr.cli.args import (backend_help, backend_name, device_help, device_name, model_help, parse_size, positive_int,
                          scale_choices)
from vsr.models import DEFAULT_MODEL
from vsr.models.weights import WEIGHT_SETS

__all__ = ["add_export", "add_engine", "add_image", "add_models", "add_info"]


def add_export(sub) -> None:
    p = sub.add_parser(
        "export", help="write a shipped model as ONNX",
        description="Write a shipped model as ONNX with dynamic batch, height and width: input y "
                    "(N, 1, H, W) luma in [0, 1], output out (N, 1, sH, sW).",
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help=model_help("architecture"))
    p.add_argument("--scale", type=int, choices=scale_choices(), default=2, help="upscaling factor (default: 2)")
    p.add_argument("--weights", choices=WEIGHT_SETS, default="clean",
                   help="weight set (default: clean; see 'vsr models')")
    p.add_argument("-o", "--output", required=True, type=Path, help="ONNX file to write")
    p.add_argument("--fp16", action="store_true",
                   help="FP16 weights, activations, input and output (what strongly typed TensorRT builds from)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from vsr.output import atomic_write
    from vsr.errors import OutputExistsError
    from vsr.models.export import export_onnx
    from vsr.models.weights import create_model

    if args.output.exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} exists; pass --overwrite to replace it")
    data = export_onnx(create_model(args.model, args.scale, args.weights), fp16=args.fp16)
    atomic_write(args.output, data)
    print(f"wrote {args.output}: {args.model} x{args.scale}, {'fp16' if args.fp16 else 'fp32'}, "
          f"{len(data) / 1024:.0f} KiB")
    return 0


def add_engine(sub) -> None:
    p = sub.add_parser(
        "engine", help="prebuild or list cached TensorRT engines",
        description="TensorRT engines are built on first use and cached (see engines/README.md); "
                    "'build' does it ahead of time, 'list' shows what is cached.",
    )
    actions = p.add_subparsers(dest="engine_command", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="build the engine for a model, shape range and GPU",
                           description="Build (or find) the TensorRT engine that "
                                       "'--backend tensorrt' with the same options uses.")
    b.add_argument("--model", default=DEFAULT_MODEL, help=model_help("architecture"))
    b.add_argument("--scale", type=int, choices=scale_choices(), default=2, help="upscaling factor (default: 2)")
    b.add_argument("--weights", choices=WEIGHT_SETS, default="clean",
                   help="weight set (default: clean; see 'vsr models')")
    b.add_argument("--max-size", type=parse_size, default=None, metavar="WxH",
                   help="largest input frame (luma) the engine accepts (default: 1920x1088)")
    b.add_argument("--batch", type=positive_int, default=1, help="frames per call (default: 1)")
    b.add_argument("--device", type=device_name, default="cuda", help="cuda or cuda:N (default: cuda)")
    b.set_defaults(func=_cmd_engine_build)
    ls = actions.add_parser("list", help="show cached engines and what they were built for")
    ls.set_defaults(func=_cmd_engine_list)


def _cmd_engine_build(args: argparse.Namespace) -> int:
    import time

    from vsr.backends import create_backend, resolve_name
    from vsr.config import BackendConfig
    from vsr.models.weights import get_spec, create_model

    resolve_name("tensorrt", args.device)  # fail in one line before loading anything
    spec = get_spec(args.model, args.scale, args.weights)
    config = BackendConfig(name="tensorrt", device=args.device, batch=args.batch,
                           options={"max_size": args.max_size})
    start = time.perf_counter()
    backend = create_backend(create_model(args.model, args.scale, args.weights), spec, config)
    try:
        max_w, max_h = backend.max_size
        what = "built" if backend.built else "found"
        print(f"{what} {backend.engine_path} (up to {max_w}x{max_h}, batch {backend.max_batch}, "
              f"{time.perf_counter() - start:.1f} s)")
    finally:
        backend.close()
    return 0


def _cmd_engine_list(args: argparse.Namespace) -> int:
    from vsr.backends.engine_cache import EngineCache

    cache = EngineCache()
    entries = cache.entries()
    print(f"{len(entries)} engine(s) in {cache.directory}")
    for e in entries:
        if e.key is None:
            print(f"  {e.path.name}: no readable sidecar (rebuilt on next use)")
            continue
        k = e.key
        n, h, w = k.profile.max
        print(f"  {e.path.name}: {k.model} x{k.scale} {k.precision}, up to {w}x{h} batch {n}, "
              f"TensorRT {k.tensorrt}, {k.gpu} (sm {k.compute_capability}, CUDA {k.cuda}), "
              f"{e.size / 2**20:.1f} MiB, {e.created}")
    return 0


def add_image(sub) -> None:
    from pathlib import Path

    p = sub.add_parser(
        "image", help="upscale a PNG or JPEG image",
        description="Upscale one image: the network on luma (BT.601), bicubic on chroma. "
                    "The output format follows OUT's suffix (.png, .jpg, .jpeg).",
    )
    p.add_argument("input", type=Path, metavar="IN", help="image to upscale")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="image to write")
    p.add_argument("--model", default=DEFAULT_MODEL, help=model_help("architecture"))
    p.add_argument("--scale", type=int, choices=scale_choices(), default=2, help="upscaling factor (default: 2)")
    p.add_argument("--weights", choices=WEIGHT_SETS, default="clean",
                   help="weight set (default: clean; compressed for JPEG-damaged pictures)")
    p.add_argument("--backend", type=backend_name, default="auto", help=backend_help())
    p.add_argument("--device", type=device_name, default="auto", help=device_help())
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_image)


def _cmd_image(args: argparse.Namespace) -> int:
    from vsr.image import image_format, read_image, upscale_image, write_image
    from vsr.media.containers import check_paths

    check_paths(args.input, args.output, args.overwrite)  # fail before the work, not after
    image_format(args.output)
    img = read_image(args.input)
    out = upscale_image(img, model=args.model, scale=args.scale, backend=args.backend, device=args.device,
                        weights=args.weights)
    write_image(args.output, out, overwrite=args.overwrite)
    print(f"wrote {args.output}: {img.shape[1]}x{img.shape[0]} -> {out.shape[1]}x{out.shape[0]} "
          f"({args.model} x{args.scale}, {args.weights} weights)")
    return 0


# Published bicubic PSNR (dB) on Set5 luma, for reference beside the shipped models.
_SET5_BICUBIC_PSNR = {2: 33.66, 3: 30.39, 4: 28.42}


def add_models(sub) -> None:
    p = sub.add_parser(
        "models", help="list shipped models with their size, cost and quality",
        description="Shipped (model, scale, weight set): parameters, FLOPs per input pixel (inference form), "
                    "Set5 luma PSNR measured when the weights were exported, bicubic for reference, and for "
                    "video the mean luma PSNR gain over bicubic on H.264 CRF 30 LR (tools/evaluate_video.py).",
    )
    p.set_defaults(func=_cmd_models)


def _flops(spec) -> float:
    """FLOPs per input pixel of the trained form: counted on the shipped ONNX graph (no PyTorch
    needed), else on the network built in PyTorch."""
    graph = spec.graph("direct")
    if graph is not None:
        from vsr.models.graph_cost import graph_flops_per_pixel

        return graph_flops_per_pixel(graph)
    from vsr.models import build_model
    from vsr.models.flops import flops_per_pixel

    return flops_per_pixel(build_model(spec.name, spec.scale), form="trained")


def _cmd_models(args: argparse.Namespace) -> int:
    from vsr.models.weights import list_models

    specs = list_models()
    if not specs:
        print("no shipped models (vsr/models/weights/manifest.json is missing or empty)")
        return 0
    rows = [("model", "scale", "weights", "params", "FLOPs/px", "Set5 PSNR", "bicubic", "CRF 30 gain")]
    for s in specs:
        measured = s.provenance.get("set5_psnr")
        bicubic = _SET5_BICUBIC_PSNR.get(s.scale)
        video = s.provenance.get("video_gain_crf30")
        rows.append((
            s.name, f"x{s.scale}", s.weights, f"{s.params:,}", f"{_flops(s) / 1e3:.1f}k",
            "-" if measured is None else f"{measured:.2f} dB",
            "-" if bicubic is None else f"{bicubic:.2f} dB",
            "-" if video is None else f"{video:+.2f} dB",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return 0


def add_info(sub) -> None:
    p = sub.add_parser("info", help="what this machine can run",
                       description="Backends (and why not), CPU features, GPUs, NVENC/NVDEC in PyAV's FFmpeg, "
                                   "library versions, the engine cache folder.")
    p.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    import json

    from vsr.info import info_lines, machine_info

    facts = machine_info()
    print(json.dumps(facts, indent=2) if args.json else "\n".join(info_lines(facts)))
    return 0
