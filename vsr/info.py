"""What this machine can run (``vsr info``): backends and why not, CPU features, GPUs, NVENC
and NVDEC in PyAV's FFmpeg, library versions, the engine cache folder. Nothing here raises:
a fact that cannot be found is reported as such."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from vsr.devices import cpu_features

__all__ = ["machine_info", "info_lines", "cpu_features", "auto_picks", "WEIGHTS_POLICY"]

def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _gpus() -> list[str]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]


def _ffmpeg_codecs() -> dict[str, list[str]]:
    from vsr.media.containers import nvidia_codecs

    try:
        return nvidia_codecs()
    except ImportError:
        return {"nvenc": [], "nvdec": []}


WEIGHTS_POLICY = ("--weights auto (the default of upscale and batch): 'clean' (trained on bicubic LR) for lossless "
                  "codecs or input at >= {bpp:g} bit per pixel per frame, else 'compressed' (fine-tuned on "
                  "codec-degraded LR) where the model ships it; 'vsr image' uses 'clean'. Weights ship inside "
                  "the package, checksummed; nothing is downloaded.")


def auto_picks(devices: list[str], bf16: bool) -> list[dict[str, str]]:
    """What ``--backend auto --precision auto`` runs per model and device, and why.

    Args:
        devices: ``["cpu"]`` or ``["cpu", "cuda:0"]``.
        bf16: whether the CPU computes bf16 natively.

    Returns:
        One ``{"model", "device", "backend", "precision", "why"}`` per (model, device); ``backend``
        is ``"none"`` (and ``why`` the reasons) where nothing can run.
    """
    from vsr.backends import list_backends, resolve_name
    from vsr.devices import parse_device
    from vsr.errors import VsrError
    from vsr.models.registry import list_architectures

    out = []
    for model in list_architectures():
        for device in devices:
            kind = parse_device(device)[0]
            try:
                name = resolve_name("auto", device, model)
            except VsrError as e:
                out.append({"model": model, "device": device, "backend": "none", "precision": "-", "why": str(e)})
                continue
            entries = {e.name: e for e in list_backends() if kind in e.rank}
            skipped = []
            for e in sorted(entries.values(), key=lambda e: -e.rank[kind]):
                if e.name != name and e.rank[kind] > entries[name].rank[kind]:  # preferred in general: why not here
                    skipped.append(f"{e.name}: {e.unavailable(device) or 'it ranks itself lower for ' + model + ' here'}")
            precision, why = entries[name].precision_note(device, model, bf16)
            first = ("the fastest available CPU backend for it, as measured in docs/performance.md" if kind == "cpu"
                     else "the preferred available GPU backend (TensorRT, else PyTorch)")
            out.append({"model": model, "device": device, "backend": name, "precision": precision,
                        "why": "; ".join([first, *(f"not {s}" for s in skipped), why])})
    return out


def machine_info() -> dict[str, Any]:
    """Every fact ``vsr info`` shows, as plain data (JSON-serialisable)."""
    from vsr.backends import list_backends
    from vsr.backends.engine_cache import engine_dir

    gpus = _gpus()
    devices = ["cpu"] + (["cuda:0"] if gpus else [])
    backends = []
    for entry in list_backends():
        runs = {}
        for device in devices:
            if device.split(":")[0] in entry.devices:
                runs[device] = entry.unavailable(device) or "available"
        if not gpus and "cuda" in entry.devices:
            runs["cuda"] = "no CUDA GPU on this machine"
        backends.append({"name": entry.name, "summary": entry.summary, "devices": runs})
    cpu = cpu_features()
    return {
        "vsr": _version("vsr-luma"), "python": platform.python_version(),
        "cpu": cpu, "gpus": gpus, "ffmpeg": _ffmpeg_codecs(), "backends": backends,
        "openvino_precision": "bf16" if cpu["bf16"] else "f32",
        "auto": auto_picks(devices, cpu["bf16"]),
        "weights_policy": WEIGHTS_POLICY.format(bpp=_clean_bpp()),
        "versions": {p: _version(p) for p in ("av", "numpy", "onnxruntime", "openvino", "torch", "tensorrt", "ray")},
        "engine_cache": str(engine_dir()),
    }


def _clean_bpp() -> float:
    from vsr.models.choice import CLEAN_BPP

    return CLEAN_BPP


def info_lines(facts: dict[str, Any]) -> list[str]:
    """:func:`machine_info` for a person to read."""
    cpu = facts["cpu"]
    lines = [f"vsr-luma {facts['vsr'] or '(not installed)'} on Python {facts['python']}",
             f"cpu: {cpu['model']}, {cpu['cores']} cores; features: {', '.join(cpu['flags']) or 'none of note'}",
             f"  bf16: {'yes' if cpu['bf16'] else 'no'}, VNNI: {'yes' if cpu['vnni'] else 'no'}, "
             f"AMX: {'yes' if cpu['amx'] else 'no'} (OpenVINO computes in {facts['openvino_precision']} here, "
             "or int8 where picked below)",
             f"gpus: {', '.join(facts['gpus']) or 'none'}",
             f"ffmpeg (PyAV) NVENC encoders: {', '.join(facts['ffmpeg']['nvenc']) or 'none'}; "
             f"NVDEC decoders: {', '.join(facts['ffmpeg']['nvdec']) or 'none'}",
             "backends:"]
    for b in facts["backends"]:
        lines.append(f"  {b['name']}: {b['summary']}")
        lines += [f"    {device}: {why}" for device, why in b["devices"].items()]
    lines.append("--backend auto / --precision auto pick here:")
    lines += [f"  {a['model']} on {a['device']}: {a['backend']} {a['precision']} ({a['why']})" for a in facts["auto"]]
    lines.append(f"weights: {facts['weights_policy']}")
    lines.append("versions: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in facts["versions"].items()))
    lines.append(f"engine cache: {facts['engine_cache']}")
    return lines
