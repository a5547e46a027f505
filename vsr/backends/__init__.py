"""Inference backends: one file each, plus one registration line here.

A registration names the module, the device kinds it runs on with its ``--backend auto`` rank
there, a summary line, and its own options; the module defines ``unavailable(device)`` and
``create(model, spec, config)`` (and may define ``auto_rank(kind, model)`` to rank itself lower
for some networks) and is imported only when that backend is asked about.
"""

from vsr.backends.base import (Backend, BackendEntry, LoadedBackend, TensorBackend, backend_names,
                               backend_options, create_backend, list_backends, register_backend, resolve_name)
from vsr.backends.options import BackendOption

__all__ = ["Backend", "TensorBackend", "BackendEntry", "BackendOption", "LoadedBackend", "backend_names",
           "backend_options", "create_backend", "list_backends", "register_backend", "resolve_name"]

register_backend("tensorrt", "vsr.backends.tensorrt", rank={"cuda": 30},
                 summary="TensorRT FP16 engines, built once per GPU and cached (NVIDIA GPUs)",
                 options=[BackendOption("max_size", "TensorRT: largest input frame the engine is built for "
                                        "(default 1920x1088)", kind="size")])
register_backend("torch", "vsr.backends.torch", rank={"cuda": 20, "cpu": 10},
                 summary="PyTorch: FP16 on CUDA GPUs (optionally CUDA graphs), FP32 on the CPU",
                 options=[BackendOption("cuda_graphs", "PyTorch on CUDA: replay captured CUDA graphs", kind="flag",
                                        default=False)])
# OpenVINO: the fastest CPU backend measured (docs/performance.md); its auto_rank() puts ESPCN
# on ONNX Runtime where the CPU has no native bf16 (there ESPCN in f32 is faster on ONNX Runtime)
register_backend("openvino", "vsr.backends.openvino", rank={"cpu": 25},
                 summary="OpenVINO on the CPU: int8 or bf16 where the CPU has them natively (VNNI, AVX512_BF16, AMX)",
                 options=[BackendOption("precision", "OpenVINO's compute precision; auto (default): int8 where the CPU "
                                        "has VNNI/AMX and the shipped int8 graph passed its quality check, else bf16 "
                                        "where native, else f32", choices=("auto", "f32", "bf16", "int8"),
                                        default="auto")])
register_backend("onnxruntime", "vsr.backends.onnxruntime", rank={"cpu": 20},
                 summary="ONNX Runtime on the CPU, FP32")
