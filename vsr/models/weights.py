"""Shipped weights: files, checksums and provenance recorded in ``weights/manifest.json``."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsr.errors import ModelError, WeightsError
from vsr.models.registry import build_model, check_architecture, list_architectures, model_card

__all__ = ["ModelSpec", "WEIGHTS_DIR", "WEIGHT_SETS", "list_models", "get_spec", "create_model", "save_weights",
           "save_graphs", "record_figures"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
# weight sets: ``clean`` trained on bicubic LR (images, lossless video), ``compressed`` fine-tuned on
# codec-degraded LR (tools/degrade.py) for compressed video
WEIGHT_SETS = ("clean", "compressed")


@dataclass(frozen=True)
class ModelSpec:
    """One shipped (architecture, scale, weight set).

    Attributes:
        name: architecture, e.g. ``"espcn"``.
        scale: upscaling factor.
        weights: weight set, one of :data:`WEIGHT_SETS`.
        file: weights file name inside :data:`WEIGHTS_DIR`.
        sha256: checksum of that file.
        params: number of parameters.
        provenance: training command, data, steps and measured PSNR.
        receptive_radius: recorded by ``tools/export_onnx.py`` with the graphs (0: not recorded).
        graphs: shipped ONNX graphs of these weights, ``{form: {"file", "sha256"}}``, made by
            ``tools/export_onnx.py``: ``direct`` (input ``y`` ``(N, 1, H, W)`` -> ``out``
            ``(N, 1, rH, rW)``, FSRCNN with its transposed convolution, for ONNX Runtime) and
            ``residual`` (-> ``(N, r*r, H, W)`` before the input is added back, for OpenVINO) and
            ``int8`` (the residual graph quantised by ``tools/quantize.py``, with its Set5/Set14
            cost under ``quality`` and ``passed``, and ``speedup_vs_bf16``).
    """

    name: str
    scale: int
    file: str
    sha256: str
    params: int
    provenance: dict[str, Any]
    graphs: dict[str, dict[str, str]] = field(default_factory=dict, hash=False, compare=False)
    receptive_radius: int = 0
    weights: str = "clean"
    folder: str = field(default="", compare=False)  # where ``file`` lies: "" for WEIGHTS_DIR (a plugin's own)

    @property
    def key(self) -> str:
        """Manifest key and file stem: ``espcn_x2`` (clean), ``espcn_x2_compressed``."""
        return weights_key(self.name, self.scale, self.weights)

    @property
    def path(self) -> Path:
        return self._dir / self.file

    @property
    def _dir(self) -> Path:
        return Path(self.folder) if self.folder else WEIGHTS_DIR

    def graph(self, form: str) -> bytes | None:
        """The shipped ONNX graph of ``form`` (``direct``, ``residual`` or ``int8``), checksum verified;
        None when none is shipped (the caller exports one from the weights).

        Raises:
            WeightsError: the file is missing or fails its checksum.
        """
        entry = self.graphs.get(form)
        if entry is None:
            return None
        path = self._dir / entry["file"]
        try:
            data = path.read_bytes()
        except OSError:
            raise WeightsError(f"ONNX graph {path} is missing; reinstall vsr-luma") from None
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise WeightsError(f"ONNX graph {path} does not match its checksum; reinstall vsr-luma")
        return data

    @property
    def radius(self) -> int:
        """Low-resolution pixels of context each output pixel depends on, per side (the
        tile overlap that makes tiled output equal whole-frame output). Recorded in the
        manifest, so knowing it needs no PyTorch."""
        if self.receptive_radius:
            return self.receptive_radius
        from vsr.models.receptive import receptive_radius

        return receptive_radius(build_model(self.name, self.scale))

    @property
    def figures(self) -> dict[str, float]:
        """Measured quality: ``{"set5_psnr": ..., "set14_psnr": ...}`` where recorded."""
        prov = self.provenance
        return {k: float(prov[k]) for k in ("set5_psnr", "set14_psnr", "set5_ssim", "set14_ssim") if k in prov}


def _manifest() -> dict[str, dict[str, Any]]:
    """vsr's own manifest (the one the tools write)."""
    if not MANIFEST.exists():
        return {}
    return json.loads(MANIFEST.read_text())


def _all_entries() -> list[dict[str, Any]]:
    """vsr's manifest entries, then those of every architecture whose card names a ``weights_dir``."""
    out = list(_manifest().values())
    for name in list_architectures():
        folder = model_card(name).weights_dir
        if folder and (Path(folder) / "manifest.json").exists():
            entries = json.loads((Path(folder) / "manifest.json").read_text()).values()
            out += [{**e, "folder": str(folder)} for e in entries if e.get("name") == name]
    return out


def weights_key(name: str, scale: int, weights: str = "clean") -> str:
    """``espcn_x2`` for the clean set (the keys predating weight sets), ``espcn_x2_compressed`` else."""
    return f"{name}_x{scale}" if weights == "clean" else f"{name}_x{scale}_{weights}"


def list_models(weights: str | None = None) -> list[ModelSpec]:
    """Every shipped (model, scale, weight set), or those of one set; sorted by name, scale, then
    set in :data:`WEIGHT_SETS` order (clean first)."""
    out = [ModelSpec(**entry) for entry in _all_entries()]
    out = [s for s in out if weights is None or s.weights == weights]
    return sorted(out, key=lambda s: (s.name, s.scale, WEIGHT_SETS.index(s.weights)))


def check_weights(weights: str) -> None:
    """The one place an unknown weight-set name is refused.

    Raises:
        ModelError: ``weights`` is not in :data:`WEIGHT_SETS`.
    """
    if weights not in WEIGHT_SETS:
        raise ModelError(f"unknown weight set {weights!r}; choose one of: {', '.join(WEIGHT_SETS)}")


def get_spec(name: str, scale: int, weights: str = "clean") -> ModelSpec:
    """The shipped spec for ``name`` at ``scale`` in weight set ``weights``; ``auto`` (chosen per
    input, :func:`vsr.models.choice.choose_weights`) means the clean set until an input is seen.

    Raises:
        ModelError: unknown name or set, or no shipped weights for that scale in that set.
    """
    weights = "clean" if weights == "auto" else weights
    check_weights(weights)
    for spec in list_models():
        if spec.name == name and spec.scale == scale and spec.weights == weights:
            return spec
    check_architecture(name)
    sets = [s.weights for s in list_models() if s.name == name and s.scale == scale]
    if sets:
        raise ModelError(f"no {weights} weights shipped for {name} x{scale}; shipped: {', '.join(sets)} "
                         f"(choose with --weights)")
    have = sorted({s.scale for s in list_models() if s.name == name})
    raise ModelError(f"no shipped weights for {name} x{scale}; available scales: {have or 'none'}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def create_model(name: str, scale: int, weights: str = "clean"):
    """The one factory of trained networks: ``name`` at ``scale`` with its shipped weights of set
    ``weights``, on the CPU, in eval mode, float32 (its :class:`ModelSpec` is :func:`get_spec`).

    The weights file is verified against its recorded SHA-256 and loaded with
    ``torch.load(weights_only=True)`` (no pickled code runs).

    Raises:
        ModelError: unknown model/scale. WeightsError: missing file or checksum mismatch.
    """
    import torch

    spec = get_spec(name, scale, weights)
    if not spec.path.exists():
        raise WeightsError(f"weights file {spec.path} is missing; reinstall vsr-luma")
    if sha256_file(spec.path) != spec.sha256:
        raise WeightsError(f"weights file {spec.path} does not match its checksum; reinstall vsr-luma")
    model = build_model(name, scale)
    model.load_state_dict(torch.load(spec.path, map_location="cpu", weights_only=True))
    return model.eval()


def save_weights(name: str, scale: int, state_dict: dict, provenance: dict[str, Any], weights: str = "clean") -> Path:
    """Write a weights file and its manifest entry (used by ``tools/train.py --export``)."""
    import torch

    from vsr.output import atomic_write

    check_weights(weights)
    key = weights_key(name, scale, weights)
    path = WEIGHTS_DIR / f"{key}.pt"
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in state_dict.items()}, buf)
    atomic_write(path, buf.getvalue())
    entries = _manifest()
    params = sum(v.numel() for v in state_dict.values())
    # new weights: the graphs of the old ones no longer apply (tools/export_onnx.py remakes them)
    entries[key] = {"name": name, "scale": scale, "weights": weights, "file": path.name, "sha256": sha256_file(path),
                    "params": params, "provenance": provenance}
    _write_manifest(entries)
    return path


def save_graphs(spec: ModelSpec, graphs: dict[str, bytes], radius: int,
                details: dict[str, dict[str, Any]] | None = None) -> None:
    """Write ONNX graphs of ``spec``'s weights beside them and record them in the manifest
    (used by ``tools/export_onnx.py`` and ``tools/quantize.py``); forms not given keep their
    entries. ``details`` adds fields to a form's entry (the int8 graph's measured quality)."""
    from vsr.output import atomic_write

    entries = _manifest()
    recorded = dict(entries[spec.key].get("graphs", {}))
    residual = graphs.get("residual")
    if residual is not None and recorded.get("residual", {}).get("sha256") != hashlib.sha256(residual).hexdigest():
        recorded.pop("int8", None)  # made from the old residual graph (tools/quantize.py remakes it)
    for form, data in sorted(graphs.items()):
        file = f"{spec.key}.{form}.onnx"
        atomic_write(WEIGHTS_DIR / file, data)
        recorded[form] = {"file": file, "sha256": hashlib.sha256(data).hexdigest(), **(details or {}).get(form, {})}
    entries[spec.key]["graphs"] = dict(sorted(recorded.items()))
    entries[spec.key]["receptive_radius"] = radius
    _write_manifest(entries)


def record_figures(spec: ModelSpec, figures: dict[str, Any]) -> None:
    """Add measured figures to ``spec``'s provenance in the manifest (used by
    ``tools/evaluate_video.py --record``; the weights and their checksum are untouched)."""
    entries = _manifest()
    entries[spec.key]["provenance"].update(figures)
    _write_manifest(entries)


def _write_manifest(entries: dict[str, dict[str, Any]]) -> None:
    from vsr.output import atomic_write

    atomic_write(MANIFEST, (json.dumps(dict(sorted(entries.items())), indent=2) + "\n").encode())
