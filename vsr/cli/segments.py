"""``vsr segments plan|run|join``: the three steps of a segmented run, for farm managers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vsr.cli.args import segment_count
from vsr.errors import UsageError

__all__ = ["add_segments"]


def add_segments(sub) -> None:
    from vsr.cli.video import add_job_args, add_range_args

    p = sub.add_parser("segments", help="one film over many machines: plan, run one segment, join",
                       description="The three steps of a segmented run for farm managers (Slurm arrays, "
                       "Deadline, OpenCue ...), on any nodes that share the filesystem: 'plan' writes the "
                       "work folder beside OUTPUT and prints the segments as JSON, 'run --index K' computes "
                       "segment K, 'join' checks every part and writes OUTPUT. Give plan and run the same "
                       "options. See docs/batch.md.")
    steps = p.add_subparsers(dest="step", required=True, metavar="STEP")
    for name, text in (("plan", "cut the input at keyframes; print the plan as JSON"),
                       ("run", "compute one segment of the plan"),
                       ("join", "verify every part and write the output")):
        q = steps.add_parser(name, help=text, description=text)
        q.add_argument("input", help="input video file")
        q.add_argument("-o", "--output", required=True, help="the final output file (its work folder is beside it)")
        if name == "plan":
            q.add_argument("--segments", type=segment_count, default="auto", metavar="N|auto",
                           help="how many segments (default auto: about a minute of source each)")
        if name == "run":
            q.add_argument("--index", type=int, required=True, metavar="K", help="the segment, from 0")
            q.add_argument("--force", action="store_true", help="compute it even if its part is finished")
        if name != "join":
            add_job_args(q)
            add_range_args(q)  # plan: the range to cover; run: the plan's (checked), or none
        else:
            q.add_argument("--progress", default="none", help=argparse.SUPPRESS)
            q.add_argument("--deinterlace", default="auto", help=argparse.SUPPRESS)
        q.add_argument("--format", default=None, metavar="NAME", help="FFmpeg muxer for the output")
        q.add_argument("--overwrite", action="store_true", help="replace an existing output file")
        q.set_defaults(func=_cmd_segments)


def _config(args: argparse.Namespace):
    from vsr.cli.video import job_config
    from vsr.config import UpscaleConfig

    if args.step == "join":
        from dataclasses import replace

        cfg = UpscaleConfig(overwrite=args.overwrite)
        return replace(cfg, encode=replace(cfg.encode, container_format=args.format))
    cfg, note = job_config(args)
    if cfg is None:
        raise UsageError(f"{args.input}: {note}: nothing to do, so nothing to segment")
    return cfg


def _cmd_segments(args: argparse.Namespace) -> int:
    from vsr.progress import make_reporter
    from vsr.segments.run import join_run, plan_run, run_segment

    cfg = _config(args)
    if args.step == "plan":
        plan = plan_run(args.input, args.output, cfg, args.segments)
        print(plan.dumps())
        return 0
    if args.step == "run":
        callback, close = make_reporter(args.progress, Path(args.input).name, sys.stdout, sys.stderr)
        try:
            computed = run_segment(args.input, args.output, cfg, args.index, progress=callback, force=args.force)
        finally:
            close()
        print(json.dumps({"event": "segment", "index": args.index, "computed": computed}))
        return 0
    frames = join_run(args.input, args.output, cfg)
    print(f"{args.output}: {frames} frames joined")
    return 0
