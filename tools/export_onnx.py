"""Write the ONNX graphs of every shipped weight set beside the weights, checksummed in the
manifest (run after ``tools/train.py --export``; the CPU backends load these instead of
exporting from PyTorch at every start).

    python -m tools.export_onnx            # every shipped (model, scale, weight set)
    python -m tools.export_onnx --check    # exit 1 if a shipped graph is missing or stale
"""

from __future__ import annotations

import argparse
import sys

from vsr.models import build_model
from vsr.models.export import export_onnx
from vsr.models.receptive import receptive_radius
from vsr.models.weights import create_model, list_models, save_graphs

FORMS = {"direct": {"subpixel": False}, "residual": {"residual": True}}


def graphs_for(name: str, scale: int, weights: str = "clean") -> dict[str, bytes]:
    """Both forms' ONNX bytes for the shipped weights (deterministic for the same weights)."""
    model = create_model(name, scale, weights)
    return {form: export_onnx(model, **kw) for form, kw in FORMS.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only check that the shipped graphs are current")
    args = ap.parse_args(argv)
    stale = []
    for spec in list_models():
        graphs = graphs_for(spec.name, spec.scale, spec.weights)
        radius = receptive_radius(build_model(spec.name, spec.scale))
        if args.check:
            if any(spec.graph(form) != data for form, data in graphs.items()) or spec.receptive_radius != radius:
                stale.append(spec.key)
            continue
        save_graphs(spec, graphs, radius)
        print(f"{spec.key}: {', '.join(f'{f} {len(d) / 1024:.0f} KiB' for f, d in graphs.items())}")
    if stale:
        print(f"stale or missing ONNX graphs: {', '.join(stale)} (run python -m tools.export_onnx)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
