"""Inference backends: one file each, plus one registration line here.

A registration names the module, the devices it runs on with its ``--backend auto`` rank
there, and a summary line; the module defines ``unavailable(device)`` and ``create(model,
spec, config)`` and is imported only when that backend is asked about.
"""

from vsr.backends.base import (Backend, BackendEntry, LoadedBackend, backend_names, create_backend, list_backends,
                               register_backend, resolve_name)

__all__ = ["Backend", "BackendEntry", "LoadedBackend", "backend_names", "create_backend", "list_backends", "register_backend",
           "resolve_name"]

register_backend("tensorrt", "vsr.backends.tensorrt", rank={"cuda": 30},
                 summary="TensorRT FP16 engines, built once per GPU and cached (NVIDIA GPUs)")
register_backend("torch", "vsr.backends.torch", rank={"cuda": 20, "cpu": 10},
                 summary="PyTorch: FP16 on CUDA GPUs (optionally CUDA graphs), FP32 on the CPU")
# OpenVINO measures fastest on the CPU (docs/performance.md) but is not yet auto's choice: vsr
# processes running it stalled in some orders of the test suite (not yet understood; see README)
register_backend("openvino", "vsr.backends.openvino", rank={"cpu": 15},
                 summary="OpenVINO on the CPU: bf16 where the CPU has it natively (AVX512_BF16, AMX)")
register_backend("onnxruntime", "vsr.backends.onnxruntime", rank={"cpu": 20},
                 summary="ONNX Runtime on the CPU, FP32")
