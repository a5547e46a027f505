"""``vsr upscale`` and ``vsr batch``: the video subcommands and their shared options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vsr.cli.ray import DEFAULT_SPLIT, add_ray_args, ray_options, split_time
from vsr.cli.args import (add_backend_options, backend_help, backend_name, backend_option_values, check_crf,
                          check_encoder, device_help, device_name, int_range, model_help, number_range, pix_fmt,
                          positive_int, scale_choices, segment_count)
from vsr.models import DEFAULT_MODEL
from vsr.progress import MODES
from vsr.errors import UsageError
from vsr.models.weights import WEIGHT_SETS

__all__ = ["add_upscale", "add_batch"]


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help=model_help())
    p.add_argument("--scale", type=int, choices=scale_choices(), default=None, help="upscaling factor (default 2)")
    p.add_argument("--weights", choices=("auto", *WEIGHT_SETS), default="auto",
                   help="weight set: clean (trained on bicubic LR), compressed (fine-tuned on codec-degraded LR) "
                        "or auto (default: clean for lossless or high-rate input, else compressed; see 'vsr models')")
    p.add_argument("--backend", type=backend_name, default="auto", help=backend_help())
    p.add_argument("--device", type=device_name, default="auto", help=device_help())
    p.add_argument("--tile", type=positive_int, default=0, help="process luma in tiles of N input pixels")
    p.add_argument("--batch", type=positive_int, default=1, help="frames per backend call (default 1)")
    p.add_argument("--threads", type=int_range(0), default=0, help="CPU threads per frame (0: automatic)")
    p.add_argument("--workers", type=int_range(0), default=0,
                   help="CPU: frames computed at once (0: automatic, up to 4)")
    add_backend_options(p)  # each backend's own: --precision, --max-size, --cuda-graphs, ...


def _add_encode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--codec", help="video encoder (default libx264 for 8-bit, libx265 for 10-bit)")
    p.add_argument("--crf", type=int_range(0),
                   help="quality: constant rate factor, lower is better (x264 0-51, default "
                                                   "18; x265 0-51, default 20; SVT-AV1, libaom, VP9 0-63)")
    p.add_argument("--preset", help="encoder preset, e.g. medium, slow, p5 (NVENC)")
    p.add_argument("--pix-fmt", type=pix_fmt, help="output pixel format (default: the source's, e.g. yuv420p10le)")
    p.add_argument("-e", "--encoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra encoder option, repeatable (e.g. -e tune=film -e x265-params=aq-mode=3)")
    p.add_argument("--deinterlace", choices=("auto", "off"), default="auto",
                   help="auto: bwdif on interlaced frames (default); off")
    p.add_argument("--hwdec", choices=("cuda",), help="decode on the GPU with NVDEC")
    p.add_argument("--progress", choices=MODES, default="auto",
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
    from vsr.config import BackendConfig, EncodeConfig, ModelConfig, UpscaleConfig, time_range

    bad_crf = check_crf(args.crf, args.codec)
    if bad_crf:
        raise UsageError(bad_crf)
    check_encoder(args.codec, args.pix_fmt, args.preset)

    return UpscaleConfig(
        model=ModelConfig(args.model, scale, args.weights),
        backend=BackendConfig(args.backend, args.device, args.tile, args.batch, args.threads, args.workers,
                              backend_option_values(args)),
        encode=EncodeConfig(args.codec, args.crf, args.preset, args.pix_fmt, _encoder_options(args.encoder_option),
                            getattr(args, "format", None)),
        size=size,
        deinterlace=args.deinterlace,
        hwdec=args.hwdec,
        overwrite=args.overwrite,
        input_options=_encoder_options(getattr(args, "input_option", None) or [], "--input-option"),
        timeout=getattr(args, "timeout", None),
        range=time_range(args.start, args.end, args.duration),
    )


def add_range_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("time range", "upscale only part of the input, frame-exact; TIME is seconds (90, 1.5, 250ms) "
                             "or [HH:]MM:SS[.frac] (01:30, 1:02:03.5), counted from the input's start as "
                             "FFmpeg's -ss/-to/-t; output timestamps start at zero (see docs/time-ranges.md)")
    g.add_argument("--start", metavar="TIME", help="first moment kept (default: the beginning)")
    g.add_argument("--end", metavar="TIME", help="where the range ends, exclusive (default: the input's end)")
    g.add_argument("--duration", metavar="TIME", help="instead of --end: how long the range is")


def _add_input_args(p: argparse.ArgumentParser) -> None:
    add_range_args(p)
    p.add_argument("--input-option", action="append", default=[], metavar="KEY=VALUE",
                   help="FFmpeg protocol/demuxer option for the input, repeatable "
                        "(--input-option rtsp_transport=tcp, --input-option listen=1)")
    p.add_argument("--timeout", type=number_range(0, " of seconds", positive=True), default=None, metavar="SECONDS",
                   help="fail with one line when the input sends nothing for this long (network sources)")


def add_upscale(sub) -> None:
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
    add_segment_args(p)
    add_ray_args(p, "compute the segments as tasks on a Ray cluster; --ray alone means --segments auto "
                     "(pip install 'vsr-luma[ray]')")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--dry-run", action="store_true",
                   help="write nothing: print the frames, duration, the speed measured here on a few frames with "
                        "these options, the time and the output size it would take")
    p.set_defaults(func=_cmd_upscale)


def add_job_args(p: argparse.ArgumentParser) -> None:
    """The options that shape an output (model, --target, encoding), shared with ``vsr segments``."""
    _add_model_args(p)
    _add_target_args(p)
    _add_encode_args(p)


def job_config(args: argparse.Namespace):
    """``(config, note)`` from :func:`add_job_args`' options; config None when --target finds
    the input already there."""
    cfg = _upscale_config(args, args.scale or 2)
    if args.target is None:
        return cfg, None
    return _target_config(args, cfg)


def add_segment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--segments", type=segment_count, default=None, metavar="N|auto",
                   help="cut the input at its keyframes into N segments (auto: about a minute each), computed "
                        "one by one into a hidden work folder and joined without re-encoding; rerunning the same "
                        "command after a crash reuses finished segments (see docs/batch.md)")


def upscale_in_segments(args: argparse.Namespace, cfg) -> int:
    """``vsr upscale ... --segments N``: plan, compute what is not finished, join."""
    from vsr.progress import make_reporter
    from vsr.segments.run import upscale_segmented

    _check_segmentable(args, cfg)
    callback, close = make_reporter(args.progress, Path(args.input).name, sys.stdout, sys.stderr)
    try:
        runner = None
        if getattr(args, "ray", None):
            from vsr.segments.ray import ray_runner

            runner = ray_runner(None if args.ray is True else str(args.ray), progress=callback, **ray_options(args))
        stats = upscale_segmented(args.input, args.output, cfg, segments=args.segments, progress=callback,
                                  runner=runner)
    finally:
        close()
    print(_segmented_summary(args.output, stats), file=sys.stderr if args.progress in ("plain", "json") else sys.stdout)
    return 0


def _check_segmentable(args: argparse.Namespace, cfg) -> None:
    """Refuse what a segmented run cannot do, before any work (dry runs too).

    Raises:
        UsageError: stdin or stdout.
    """
    if args.input == "-" or args.output == "-":
        raise UsageError("--segments needs an input file and an output file (not - for stdin or stdout)")


def _segmented_summary(output: str, stats) -> str:
    """A segmented run's summary: an unsegmented run's line (model, weights, backend, codec,
    sizes, speed, file size) for the whole file, then the segments; fps and speed count only the
    frames computed in this run (reused parts are named apart); when no part was computed here
    (all reused, or Ray), frames and times only."""
    from dataclasses import replace

    from vsr.progress import summary_line

    plural = "s" * (stats.segments != 1)
    segments = f"{stats.segments} segment{plural} ({len(stats.computed)} computed, {len(stats.reused)} reused)"
    if stats.reused:
        segments += (f", {stats.reused_frames} frames reused from an earlier run and left out of fps and speed"
                     if stats.computed_frames else f", all {stats.reused_frames} frames reused from an earlier run")
    segments += f", join {stats.join_seconds:.1f} s"
    if stats.part is None:
        rate = f" ({stats.fps:.2f} fps)" if stats.computed_frames else ""
        return f"{output}: {stats.frames} frames in {stats.seconds:.1f} s{rate}; {segments}"
    whole = replace(stats.part, frames=stats.frames, seconds=stats.seconds, fps=stats.fps,
                    duration=stats.computed_duration)
    return f"{summary_line(output, whole, Path(output).stat().st_size)}; {segments}"


def _cmd_upscale(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vsr.pipeline import upscale_video
    from vsr.progress import make_reporter, summary_line

    cfg = _upscale_config(args, args.scale or 2)
    to_stdout = args.output == "-"  # stdout carries video: every message and progress line goes to stderr
    if to_stdout:
        from vsr.media.stdio import check_stream_format

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
    if args.ray and args.segments is None:  # --ray alone means --segments auto
        args.segments = "auto"
    if args.dry_run:
        from vsr.cli.estimate import upscale_estimate_lines

        if args.input == "-":
            raise UsageError("--dry-run runs a trial on the input first and cannot read stdin")
        if args.segments is not None:
            _check_segmentable(args, cfg)
        lines = upscale_estimate_lines(args.input, args.output, cfg)
        if args.segments is not None:
            from vsr.cli.estimate import segment_plan_lines

            lines[-1:-1] = segment_plan_lines(args.input, args.segments, cfg.range)
        print("\n".join(lines), file=sys.stderr if to_stdout else sys.stdout)
        return 0
    if args.segments is not None:
        return upscale_in_segments(args, cfg)
    name = "stdin" if args.input == "-" else Path(args.input).name
    callback, close = make_reporter(args.progress, name, sys.stderr if to_stdout else sys.stdout, sys.stderr)
    try:
        with _logging_above_bars(args.progress):
            stats = upscale_video(args.input, args.output, cfg, progress=callback)
    finally:
        close()
    size = None if to_stdout else Path(args.output).stat().st_size
    print(summary_line(args.output, stats, size),
          file=sys.stderr if to_stdout or args.progress in ("plain", "json") else sys.stdout)
    return 0


def _target_arg(text: str):
    from vsr.target import parse_target

    try:
        return parse_target(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", type=_target_arg, metavar="RES",
                   help="instead of --scale: a frame to fit the picture in, 2160p or 4k (3840x2160), 1440p, 1080p "
                        "(1920x1080), ... turned for portrait video, or WxH; the smallest model scale that reaches "
                        "it, then an exact resize keeping the display aspect (see docs/batch.md)")


def _target_config(args: argparse.Namespace, cfg):
    """``(config, note)`` for ``--target`` on one input; config None when it is already there."""
    from vsr.batch import available_scales
    from vsr.batch.plan import apply_target
    from vsr.media.probe import probe

    if args.scale:
        raise UsageError("--target and --scale exclude each other: give one")
    info = probe(args.input, dict(cfg.input_options), cfg.timeout)
    new, plan, note = apply_target(info, cfg, args.target, available_scales(cfg.model.name))
    return (None, note) if plan.at_target else (new, note)


def add_batch(sub) -> None:
    from vsr.batch.plan import CONTAINERS, DEFAULT_TEMPLATE

    p = sub.add_parser(
        "batch", help="upscale many videos into a folder (resumable, parallel, Ray)",
        description="Upscale every video the inputs name into OUTDIR, mirroring their folder layout. "
                    "Outputs appear only when complete; a rerun skips finished files and does only what is "
                    "missing; a bad file is reported and the batch goes on. Exit code: 0 all done or skipped, "
                    "1 some failed, 2 usage error. See docs/batch.md.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (searched recursively, videos recognised by probing), quoted "
                        "glob patterns such as 'shows/**/*.mkv', or URLs (http://, rtsp://, ...: one output "
                        "each, named from the URL's last path component, else its host and port)")
    p.add_argument("-d", "--outdir", required=True, type=Path, metavar="OUTDIR", help="output folder")
    _add_input_args(p)
    _add_model_args(p)
    _add_target_args(p)
    p.add_argument("--at-target", choices=("skip", "copy"), default="skip",
                   help="with --target, files already at or above it: skip (default) or copy them to OUTDIR")
    _add_encode_args(p)
    p.add_argument("--template", default=DEFAULT_TEMPLATE,
                   help="output file name (default %(default)s); fields: {stem} {name} {ext} {model} {scale} "
                        "{width} {height} {target} {root}")
    p.add_argument("--container", choices=CONTAINERS, help="output container (default: the input's own, else mkv)")
    p.add_argument("-j", "--jobs", type=positive_int, default=1,
                   help="files at once, sharing one loaded model (default 1; ignored with --ray)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (file, size, model/scale, output) with totals and estimates of time "
                        "and output size (a few frames are upscaled here to measure the speed); write nothing")
    p.add_argument("--report", type=Path, metavar="FILE", help="write a JSON report of every file's outcome")
    p.add_argument("--overwrite", action="store_true", help="redo files whose output exists, and replace it")
    g = add_ray_args(p, "run each file as a task on a Ray cluster, long files split into segment tasks "
                         "(pip install 'vsr-luma[ray]')")
    g.add_argument("--split-longer-than", type=split_time, default=DEFAULT_SPLIT, metavar="TIME|off",
                   help="with --ray, files longer than TIME run as segment tasks on several workers and are joined "
                        "(default %(default)s, [HH:]MM:SS or seconds; off: every file is one task)")
    g.add_argument("--segments", type=segment_count, default="auto", metavar="N|auto",
                   help="segments of each split file (default auto: about a minute of source each)")
    p.set_defaults(func=_cmd_batch)


def _cmd_batch(args: argparse.Namespace) -> int:
    import time

    from vsr.batch import plan_batch, run_batch, summary_lines
    from vsr.batch.plan import describe
    from vsr.batch.progress import make_batch_reporter

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
        from vsr.cli.estimate import batch_estimate_lines

        for line in batch_estimate_lines(items, args.jobs):
            print(line)
        return 1 if n["fail"] else 0
    ray_opts = ray_options(args)
    if args.ray:
        ray_opts.update(split_longer_than=args.split_longer_than, segments=args.segments)
    elif args.segments != "auto" or args.split_longer_than != split_time(DEFAULT_SPLIT):
        raise UsageError("--segments and --split-longer-than split files into Ray tasks: give --ray too")
    reporter = make_batch_reporter(args.progress, sys.stdout, sys.stderr, args.jobs)
    start = time.monotonic()
    with _logging_above_bars(args.progress):
        results = run_batch(items, args.outdir, jobs=args.jobs, progress=reporter, report=args.report,
                            ray=args.ray, ray_options=ray_opts)
    out = sys.stderr if args.progress in ("plain", "json") else sys.stdout
    for line in summary_lines(results, time.monotonic() - start):
        print(line, file=out)
    if args.report:
        print(f"report: {args.report}", file=out)
    return 1 if any(r.status == "failed" for r in results) else 0


def _logging_above_bars(mode: str):
    """While progress bars are drawn (``--progress bar``, or ``auto`` on a terminal), log lines go
    through tqdm: printed whole above the bars, never into them."""
    import contextlib

    if not (mode == "bar" or (mode == "auto" and sys.stderr.isatty())):
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()
