"""The Ray options ``vsr upscale --segments`` and ``vsr batch`` share: joining a cluster, what
each task reserves, and ``--split-longer-than``."""

from __future__ import annotations

import argparse

from vsr.cli.args import int_range, number_range
from vsr.errors import UsageError

__all__ = ["DEFAULT_SPLIT", "add_ray_args", "ray_options", "split_time"]


def add_ray_args(p: argparse.ArgumentParser, title: str):
    g = p.add_argument_group("Ray", title)
    g.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="join the cluster at ADDRESS (auto, HOST:PORT, ray://HOST:10001), or start a local Ray "
                        "when none is given; write --ray=ADDRESS before the inputs")
    g.add_argument("--ray-cpus-per-task", type=number_range(0), default=1.0, metavar="N",
                   help="CPUs per task (default 1)")
    g.add_argument("--ray-gpus-per-task", type=number_range(0), default=0.0, metavar="N",
                   help="GPUs per task, fractions share a GPU (default 0; use --device cuda with it)")
    g.add_argument("--ray-max-retries", type=int_range(-1), default=3, metavar="N",
                   help="reruns of a task whose worker died (default 3; -1: no limit)")
    return g


def ray_options(args: argparse.Namespace) -> dict:
    return {"num_cpus": args.ray_cpus_per_task, "num_gpus": args.ray_gpus_per_task,
            "max_retries": args.ray_max_retries}


DEFAULT_SPLIT = "10:00"


def split_time(text: str):
    """``--split-longer-than``: a time in seconds, or None for ``off``."""
    from vsr.config import parse_time

    if text.strip().lower() == "off":
        return None
    try:
        return float(parse_time(text))
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
