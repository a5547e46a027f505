"""Network-only speed of each backend: frames per second of ``backend.run`` on one frame size.

Example (the GPU goal is TensorRT FP16 ESPCN x2 at 1920x1080 -> 3840x2160 >= 1,500 fps)::

    python -m tools.bench_engine --device cuda --size 1920x1080 --backend tensorrt torch
    python -m tools.bench_engine --device cpu --size 480x360 --backend openvino onnxruntime torch \
        --precision f32 bf16

Times are medians over ``--repeat`` timed runs after warm-up, with the device synchronised;
input and output stay on the device (no host copies), as in the pipeline's compute stream.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from vsr.backends import create_backend
from vsr.config import BackendConfig
from vsr.devices import cpu_parallelism, resolve_device
from vsr.errors import VsrError
from vsr.models import list_architectures
from vsr.models.weights import get_spec, create_model


def fps(backend, y, repeat: int, warmup: int = 3) -> float:
    if isinstance(y, torch.Tensor) and y.device.type == "cuda":  # a stream of its own, as in the pipeline (not the legacy default stream)
        stream = torch.cuda.Stream(y.device)
        stream.wait_stream(torch.cuda.current_stream(y.device))
        with torch.cuda.stream(stream):
            return _fps(backend, y, repeat, warmup, stream.synchronize)
    return _fps(backend, y, repeat, warmup, lambda: None)


def _fps(backend, y: torch.Tensor, repeat: int, warmup: int, sync) -> float:
    for _ in range(warmup):
        backend.run(y)
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        backend.run(y)
        sync()
        times.append(time.perf_counter() - t)
    return y.shape[0] / statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", nargs="+", default=list_architectures())
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--backend", nargs="+", default=["tensorrt", "torch", "onnxruntime"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", default="1920x1080", help="input luma WxH")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--cuda-graphs", action="store_true")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--precision", nargs="+", default=["auto"], help="OpenVINO precisions to time (auto f32 bf16)")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(f"bench_engine: --device {device}: PyTorch sees no CUDA GPU on this machine")
    w, h = (int(v) for v in args.size.lower().split("x"))
    threads = cpu_parallelism(1, 0)[1] if device == "cpu" else 0
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.startswith("cuda") else ""))
    print("| model | backend | input | ms per call | fps |\n|---|---|---|---|---|")
    for name in args.model:
        net, spec = create_model(name, args.scale), get_spec(name, args.scale)
        for b in args.backend:
            for precision in args.precision if b == "openvino" else ["auto"]:
                own = {"tensorrt": {"max_size": (w, h)}, "torch": {"cuda_graphs": args.cuda_graphs},
                       "openvino": {"precision": precision}}.get(b, {})
                cfg = BackendConfig(b, device, batch=args.batch, threads=threads, workers=1, options=own)
                try:
                    backend = create_backend(net, spec, cfg)
                except VsrError as e:
                    print(f"| {name} x{args.scale} | {b} {precision} | - | - | unavailable: {e} |")
                    continue
                if backend.host:  # OpenVINO, ONNX Runtime: NumPy in and out, as the pipeline calls them
                    y = torch.rand(args.batch, 1, h, w).numpy()
                else:
                    y = torch.rand(args.batch, 1, h, w, device=backend.device).to(backend.dtype)
                kind = getattr(backend, "precision", "f32" if backend.host else str(backend.dtype).replace("torch.", ""))
                f = fps(backend, y, args.repeat)
                print(f"| {name} x{args.scale} | {b} ({kind}) | {args.batch}x{w}x{h} | "
                      f"{1000 * args.batch / f:.1f} | {f:.1f} |")
                backend.close()


if __name__ == "__main__":
    main()
