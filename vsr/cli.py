"""Command line: ``vsr COMMAND ...``. The only module that prints or sets up logging.

Each subcommand is a ``_cmd_NAME(args)`` function plus an ``_add_NAME(subparsers)``
that declares its arguments and sets ``func=_cmd_NAME``; ``_COMMANDS`` at the bottom
lists the ``_add_*`` functions in help order.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vsr.errors import UsageError, VsrError

__all__ = ["main"]

log = logging.getLogger("vsr")


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose:  # FFmpeg's own log lines only on request
        import av.logging

        av.logging.set_level(av.logging.VERBOSE if verbose > 1 else av.logging.INFO)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vsr")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vsr", description="Video super-resolution with ESPCN/FSRCNN.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"vsr {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failure, 2 usage error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    previous = _terminate_as_interrupt()
    try:
        return int(args.func(args) or 0)
    except VsrError as e:
        if args.verbose:
            log.exception("failed")
        print(f"vsr: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        print("vsr: terminated" if isinstance(e, Terminated) else "vsr: interrupted", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except Exception as e:  # a bug or an unexpected library error: still one line unless -v
        if args.verbose:
            raise
        print(f"vsr: error: {type(e).__name__}: {e} (run with -v for details)", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so the same clean-up runs (exit 143)."""


def _terminate_as_interrupt():
    """Install the SIGTERM handler; returns the previous one (None off the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def on_term(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, on_term)


def _parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> ``(1920, 1080)``: (width, height), for argparse ``type=``."""
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, got {text!r}")
    return int(w), int(h)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _add_export(sub) -> None:
    p = sub.add_parser(
        "export", help="write a shipped model as ONNX",
        description="Write a shipped model as ONNX with dynamic batch, height and width: input y "
                    "(N, 1, H, W) luma in [0, 1], output out (N, 1, sH, sW).",
    )
    p.add_argument("--model", default="espcn", help="architecture (default: espcn)")
    p.add_argument("--scale", type=int, default=2, help="upscaling factor (default: 2)")
    p.add_argument("-o", "--output", required=True, type=Path, help="ONNX file to write")
    p.add_argument("--fp16", action="store_true",
                   help="FP16 weights, activations, input and output (what strongly typed TensorRT builds from)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from vsr.backends.engine_cache import atomic_write
    from vsr.errors import OutputExistsError
    from vsr.models.export import export_onnx
    from vsr.models.weights import load_model

    if args.output.exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} exists; pass --overwrite to replace it")
    data = export_onnx(load_model(args.model, args.scale), fp16=args.fp16)
    atomic_write(args.output, data)
    print(f"wrote {args.output}: {args.model} x{args.scale}, {'fp16' if args.fp16 else 'fp32'}, "
          f"{len(data) / 1024:.0f} KiB")
    return 0


def _add_engine(sub) -> None:
    p = sub.add_parser(
        "engine", help="prebuild or list cached TensorRT engines",
        description="TensorRT engines are built on first use and cached (see engines/README.md); "
                    "'build' does it ahead of time, 'list' shows what is cached.",
    )
    actions = p.add_subparsers(dest="engine_command", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="build the engine for a model, shape range and GPU",
                           description="Build (or find) the TensorRT engine that "
                                       "'--backend tensorrt' with the same options uses.")
    b.add_argument("--model", default="espcn", help="architecture (default: espcn)")
    b.add_argument("--scale", type=int, default=2, help="upscaling factor (default: 2)")
    b.add_argument("--max-size", type=_parse_size, default=None, metavar="WxH",
                   help="largest input frame (luma) the engine accepts (default: 1920x1088)")
    b.add_argument("--batch", type=_positive_int, default=1, help="frames per call (default: 1)")
    b.add_argument("--device", default="cuda", help="cuda or cuda:N (default: cuda)")
    b.set_defaults(func=_cmd_engine_build)
    ls = actions.add_parser("list", help="show cached engines and what they were built for")
    ls.set_defaults(func=_cmd_engine_list)


def _cmd_engine_build(args: argparse.Namespace) -> int:
    import time

    from vsr.backends import create_backend, resolve_name
    from vsr.config import BackendConfig
    from vsr.models.weights import get_spec, load_model

    resolve_name("tensorrt", args.device)  # fail in one line before loading anything
    spec = get_spec(args.model, args.scale)
    config = BackendConfig(name="tensorrt", device=args.device, batch=args.batch, max_size=args.max_size)
    start = time.perf_counter()
    backend = create_backend(load_model(args.model, args.scale), spec, config)
    try:
        max_h, max_w = backend.max_shape
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


def _add_image(sub) -> None:
    from pathlib import Path

    p = sub.add_parser(
        "image", help="upscale a PNG or JPEG image",
        description="Upscale one image: the network on luma (BT.601), bicubic on chroma. "
                    "The output format follows OUT's suffix (.png, .jpg, .jpeg).",
    )
    p.add_argument("input", type=Path, metavar="IN", help="image to upscale")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="image to write")
    p.add_argument("--model", default="espcn", help="architecture (default: espcn; see 'vsr models')")
    p.add_argument("--scale", type=int, default=2, help="upscaling factor (default: 2)")
    p.add_argument("--backend", default="auto", help="auto, onnxruntime, torch or tensorrt (default: auto)")
    p.add_argument("--device", default="auto", help="auto (default: a CUDA GPU if there is one), cpu, cuda or cuda:N")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_image)


def _cmd_image(args: argparse.Namespace) -> int:
    from vsr.image import image_format, read_image, upscale_image, write_image
    from vsr.output import check_paths

    check_paths(args.input, args.output, args.overwrite)  # fail before the work, not after
    image_format(args.output)
    img = read_image(args.input)
    out = upscale_image(img, model=args.model, scale=args.scale, backend=args.backend, device=args.device)
    write_image(args.output, out, overwrite=args.overwrite)
    print(f"wrote {args.output}: {img.shape[1]}x{img.shape[0]} -> {out.shape[1]}x{out.shape[0]} "
          f"({args.model} x{args.scale})")
    return 0


# Published bicubic PSNR (dB) on Set5 luma, for reference beside the shipped models.
_SET5_BICUBIC_PSNR = {2: 33.66, 3: 30.39, 4: 28.42}


def _add_models(sub) -> None:
    p = sub.add_parser(
        "models", help="list shipped models with their size, cost and quality",
        description="Shipped (model, scale) pairs: parameters, FLOPs per input pixel (inference form), "
                    "Set5 luma PSNR measured when the weights were exported, and bicubic for reference.",
    )
    p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from vsr.models import build_model
    from vsr.models.flops import flops_per_pixel
    from vsr.models.weights import list_models

    specs = list_models()
    if not specs:
        print("no shipped models (vsr/models/weights/manifest.json is missing or empty)")
        return 0
    rows = [("model", "scale", "params", "FLOPs/px", "Set5 PSNR", "bicubic")]
    for s in specs:
        measured = s.provenance.get("set5_psnr")
        bicubic = _SET5_BICUBIC_PSNR.get(s.scale)
        rows.append((
            s.name, f"x{s.scale}", f"{s.params:,}", f"{flops_per_pixel(build_model(s.name, s.scale), form='trained') / 1e3:.1f}k",
            "-" if measured is None else f"{measured:.2f} dB",
            "-" if bicubic is None else f"{bicubic:.2f} dB",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return 0


# Subcommands in help order: each adds its parser and sets ``func``.
def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="espcn", help="network: espcn (default) or fsrcnn")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), default=None, help="upscaling factor (default 2)")
    p.add_argument("--backend", default="auto", help="auto (default), onnxruntime, torch or tensorrt")
    p.add_argument("--device", default="auto", help="auto (default: a CUDA GPU if there is one), cpu, cuda or cuda:N")
    p.add_argument("--tile", type=_positive_int, default=0, help="process luma in tiles of N input pixels")
    p.add_argument("--batch", type=_positive_int, default=1, help="frames per backend call (default 1)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads per frame (0: automatic)")
    p.add_argument("--workers", type=int, default=0, help="CPU: frames computed at once (0: automatic, up to 4)")
    p.add_argument("--max-size", type=_parse_size, default=None, metavar="WxH",
                   help="TensorRT: largest input frame the engine is built for (default 1920x1088)")
    p.add_argument("--cuda-graphs", action="store_true", help="PyTorch on CUDA: replay captured CUDA graphs")


def _add_encode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--codec", help="video encoder (default libx264 for 8-bit, libx265 for 10-bit)")
    p.add_argument("--crf", type=int, help="quality: constant rate factor (x264 default 18, x265 20)")
    p.add_argument("--preset", help="encoder preset, e.g. medium, slow, p5 (NVENC)")
    p.add_argument("--pix-fmt", help="output pixel format (default: the source's, e.g. yuv420p10le)")
    p.add_argument("-e", "--encoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra encoder option, repeatable (e.g. -e tune=film -e x265-params=aq-mode=3)")
    p.add_argument("--deinterlace", choices=("auto", "off"), default="auto",
                   help="auto: bwdif on interlaced frames (default); off")
    p.add_argument("--hwdec", choices=("cuda",), help="decode on the GPU with NVDEC")
    p.add_argument("--progress", choices=("auto", "none", "bar", "plain", "json"), default="auto",
                   help="bar on a terminal (default), plain or json lines on stdout for schedulers, none")


def _encoder_options(items: list[str], flag: str = "--encoder-option") -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        out.append((key, value))
    return tuple(out)


def _upscale_config(args: argparse.Namespace, scale: int, size: tuple[int, int] | None = None):
    from vsr.config import BackendConfig, EncodeConfig, ModelConfig, UpscaleConfig

    return UpscaleConfig(
        model=ModelConfig(args.model, scale),
        backend=BackendConfig(args.backend, args.device, args.tile, args.batch, args.threads, args.max_size,
                              args.cuda_graphs, args.workers),
        encode=EncodeConfig(args.codec, args.crf, args.preset, args.pix_fmt, _encoder_options(args.encoder_option),
                            getattr(args, "format", None)),
        size=size,
        deinterlace=args.deinterlace,
        hwdec=args.hwdec,
        overwrite=args.overwrite,
        input_options=_encoder_options(getattr(args, "input_option", None) or [], "--input-option"),
        timeout=getattr(args, "timeout", None),
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-option", action="append", default=[], metavar="KEY=VALUE",
                   help="FFmpeg protocol/demuxer option for the input, repeatable "
                        "(--input-option rtsp_transport=tcp, --input-option listen=1)")
    p.add_argument("--timeout", type=_positive_float, default=None, metavar="SECONDS",
                   help="fail with one line when the input sends nothing for this long (network sources)")


def _add_upscale(sub) -> None:
    p = sub.add_parser("upscale", help="upscale one video file",
                       description="Upscale a video: luma through the network, chroma bicubic; audio, "
                       "subtitles, chapters, timestamps and colour metadata kept.")
    p.add_argument("input", help="input video file, or - for stdin")
    p.add_argument("-o", "--output", required=True,
                   help="output file (its suffix picks the container), or - for stdout (needs --format)")
    p.add_argument("--format", default=None, metavar="NAME",
                   help="FFmpeg muxer for the output (matroska, mpegts, nut ...); required with -o -")
    _add_input_args(p)
    _add_model_args(p)
    _add_target_args(p)
    _add_encode_args(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_upscale)


def _cmd_upscale(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vsr.pipeline import upscale_video
    from vsr.progress import make_reporter

    cfg = _upscale_config(args, args.scale or 2)
    to_stdout = args.output == "-"  # stdout carries video: every message and progress line goes to stderr
    if to_stdout:
        from vsr.stdio import check_stream_format

        check_stream_format(args.format)
    if args.target is not None:
        if args.input == "-":
            raise UsageError("--target probes the input first and cannot read stdin; give --scale")
        cfg, note = _target_config(args, cfg)
        if cfg is None:
            print(f"vsr: {args.input}: {note}: nothing to do", file=sys.stderr)
            return 0
        if note:
            print(f"vsr: note: {note}", file=sys.stderr)
    name = "stdin" if args.input == "-" else Path(args.input).name
    callback, close = make_reporter(args.progress, name, sys.stderr if to_stdout else sys.stdout, sys.stderr)
    try:
        stats = upscale_video(args.input, args.output, cfg, progress=callback)
    finally:
        close()
    print(f"{args.output}: {stats.frames} frames {stats.input_size[0]}x{stats.input_size[1]} -> "
          f"{stats.output_size[0]}x{stats.output_size[1]} in {stats.seconds:.1f} s ({stats.fps:.2f} fps, "
          f"{stats.backend})", file=sys.stderr if to_stdout or args.progress in ("plain", "json") else sys.stdout)
    return 0


def _target_arg(text: str):
    from vsr.target import parse_target

    try:
        return parse_target(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", type=_target_arg, metavar="RES",
                   help="instead of --scale: 2160p, 1440p, 1080p, ... (the display's short side), 4k, or WxH "
                        "(fit inside the box); the smallest model scale that reaches it, then an exact resize "
                        "keeping the display aspect (see docs/batch.md)")


def _target_config(args: argparse.Namespace, cfg):
    """``(config, note)`` for ``--target`` on one input; config None when it is already there."""
    from vsr.batch import available_scales
    from vsr.batch_plan import apply_target
    from vsr.media.probe import probe

    if args.scale:
        raise UsageError("--target and --scale exclude each other: give one")
    new, plan, note = apply_target(probe(args.input), cfg, args.target, available_scales(cfg.model.name))
    return (None, note) if plan.at_target else (new, note)


def _add_batch(sub) -> None:
    from vsr.batch_plan import CONTAINERS, DEFAULT_TEMPLATE

    p = sub.add_parser(
        "batch", help="upscale many videos into a folder (resumable, parallel, Ray)",
        description="Upscale every video the inputs name into OUTDIR, mirroring their folder layout. "
                    "Outputs appear only when complete; a rerun skips finished files and does only what is "
                    "missing; a bad file is reported and the batch goes on. Exit code: 0 all done or skipped, "
                    "1 some failed, 2 usage error. See docs/batch.md.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (searched recursively, videos recognised by probing) or quoted "
                        "glob patterns such as 'shows/**/*.mkv'")
    p.add_argument("-d", "--outdir", required=True, type=Path, metavar="OUTDIR", help="output folder")
    _add_model_args(p)
    _add_target_args(p)
    p.add_argument("--at-target", choices=("skip", "copy"), default="skip",
                   help="with --target, files already at or above it: skip (default) or copy them to OUTDIR")
    _add_encode_args(p)
    p.add_argument("--template", default=DEFAULT_TEMPLATE,
                   help="output file name (default %(default)s); fields: {stem} {name} {ext} {model} {scale} "
                        "{width} {height} {target} {root}")
    p.add_argument("--container", choices=CONTAINERS, help="output container (default: the input's own, else mkv)")
    p.add_argument("-j", "--jobs", type=_positive_int, default=1,
                   help="files at once, sharing one loaded model (default 1; ignored with --ray)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (file, size, model/scale, output); do nothing")
    p.add_argument("--report", type=Path, metavar="FILE", help="write a JSON report of every file's outcome")
    p.add_argument("--overwrite", action="store_true", help="redo files whose output exists, and replace it")
    g = p.add_argument_group("Ray", "run each file as a task on a Ray cluster (pip install 'vsr[ray]')")
    g.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="join the cluster at ADDRESS (auto, HOST:PORT, ray://HOST:10001), or start a local Ray "
                        "when none is given; write --ray=ADDRESS before the inputs")
    g.add_argument("--ray-cpus-per-task", type=float, default=1.0, metavar="N", help="CPUs per task (default 1)")
    g.add_argument("--ray-gpus-per-task", type=float, default=0.0, metavar="N",
                   help="GPUs per task, fractions share a GPU (default 0; use --device cuda with it)")
    g.add_argument("--ray-max-retries", type=int, default=3, metavar="N",
                   help="reruns of a task whose worker died (default 3)")
    p.set_defaults(func=_cmd_batch)


def _cmd_batch(args: argparse.Namespace) -> int:
    import time

    from vsr.batch import plan_batch, run_batch, summary_lines
    from vsr.batch_plan import describe
    from vsr.batch_progress import make_batch_reporter

    if args.target is not None and args.scale:
        raise UsageError("--target and --scale exclude each other: give one")
    cfg = _upscale_config(args, args.scale or 2)
    items = plan_batch(args.inputs, args.outdir, cfg, target=args.target, at_target=args.at_target,
                       template=args.template, container=args.container)
    if not items:
        raise UsageError(f"no video file found in {' '.join(args.inputs)}")
    if args.dry_run:
        for item in items:
            print(describe(item))
        n = {a: sum(1 for i in items if i.action == a) for a in ("upscale", "copy", "skip", "fail")}
        print(f"plan: {n['upscale']} to upscale, {n['copy']} to copy, {n['skip']} to skip, {n['fail']} failing, "
              f"of {len(items)} file(s); nothing was done")
        return 1 if n["fail"] else 0
    ray_options = {"num_cpus": args.ray_cpus_per_task, "num_gpus": args.ray_gpus_per_task,
                   "max_retries": args.ray_max_retries}
    reporter = make_batch_reporter(args.progress, sys.stdout, sys.stderr, args.jobs)
    start = time.monotonic()
    results = run_batch(items, args.outdir, jobs=args.jobs, progress=reporter, report=args.report,
                        ray=args.ray, ray_options=ray_options)
    out = sys.stderr if args.progress in ("plain", "json") else sys.stdout
    for line in summary_lines(results, time.monotonic() - start):
        print(line, file=out)
    if args.report:
        print(f"report: {args.report}", file=out)
    return 1 if any(r.status == "failed" for r in results) else 0



_COMMANDS: list = [_add_upscale, _add_batch, _add_export, _add_engine, _add_image, _add_models]


if __name__ == "__main__":
    sys.exit(main())
