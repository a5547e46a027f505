"""ONNX export of every registered model (FP32 and FP16) and of every shipped one."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, shape_inference

from vsr.models import SCALES, build_model, list_architectures, model_card
from vsr.models.export import export_onnx, inference_form
from vsr.models.weights import list_models, create_model

CASES = [pytest.param(name, scale, False, id=f"{name}_x{scale}") for name in list_architectures()
         for scale in model_card(name).scales]
CASES += [pytest.param(s.name, s.scale, s.weights, id=f"{s.key}-shipped") for s in list_models()]


def _model(name: str, scale: int, shipped: str | bool) -> torch.nn.Module:
    """Shipped weights (``shipped`` names the weight set), or an untrained network whose
    zero-initialised layers are filled with small random values (a zero last layer would make
    every comparison trivial)."""
    if shipped:
        return create_model(name, scale, shipped)
    torch.manual_seed(0)
    model = build_model(name, scale).eval()
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.05)
    return model


def _session(data: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def _types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor in the graph: inputs, outputs, intermediates, weights."""
    g = shape_inference.infer_shapes(model, strict_mode=True).graph
    out = {v.name: v.type.tensor_type.elem_type for v in [*g.input, *g.output, *g.value_info]}
    out.update({t.name: t.data_type for t in g.initializer})
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                out[f"{node.name}.{a.name}"] = a.t.data_type
    return out


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize(("name", "scale", "shipped"), CASES)
def test_graph_signature_and_types(name, scale, shipped, fp16):
    model = onnx.load_from_string(export_onnx(_model(name, scale, shipped), fp16=fp16))
    onnx.checker.check_model(model, full_check=True)
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("y", "out")
    for v in (inp, out):
        assert v.type.tensor_type.elem_type == elem
        dims = v.type.tensor_type.shape.dim
        assert dims[1].dim_value == 1  # one luma channel, fixed
        assert all(dims[i].dim_param for i in (0, 2, 3)), f"{v.name}: batch, height and width must be dynamic"
    kinds = set(_types(model).values())
    assert kinds == {elem}, f"graph mixes element types {kinds}; a strongly typed FP16 engine needs FP16 throughout"


@pytest.mark.parametrize(("name", "scale", "shipped"), CASES)
def test_onnxruntime_fp32_matches_pytorch(name, scale, shipped):
    model = _model(name, scale, shipped)
    session = _session(export_onnx(model))
    torch.manual_seed(1)
    for shape in [(2, 1, 19, 23), (1, 1, 8, 31)]:  # two shapes: the axes really are dynamic
        x = torch.rand(shape)
        with torch.no_grad():
            ref = model(x).numpy()
        (got,) = session.run(None, {"y": x.numpy()})
        assert got.shape == (shape[0], 1, scale * shape[2], scale * shape[3])
        assert np.abs(got - ref).max() < 1e-4


@pytest.mark.parametrize(("name", "scale", "shipped"), CASES)
def test_fp16_graph_close_to_pytorch_fp32(name, scale, shipped):
    """ONNX Runtime's CPU provider runs the FP16 graph; it stays within FP16 rounding of FP32."""
    model = _model(name, scale, shipped)
    torch.manual_seed(2)
    x = torch.rand(2, 1, 21, 17)
    with torch.no_grad():
        ref = model(x).numpy()
    try:
        session = _session(export_onnx(model, fp16=True))
    except Exception as e:  # an ONNX Runtime build without FP16 CPU kernels
        pytest.skip(f"ONNX Runtime cannot run FP16 on the CPU here: {e}")
    (got,) = session.run(None, {"y": x.numpy().astype(np.float16)})
    assert got.dtype == np.float16 and got.shape == ref.shape
    err = np.abs(got.astype(np.float32) - ref)
    assert err.max() < 4e-3 and err.mean() < 5e-4  # seen: max 8e-4, mean 1.3e-4


@pytest.mark.parametrize("scale", SCALES)
def test_fsrcnn_exports_subpixel_form(scale):
    """No ConvTranspose in the graph: the exact sub-pixel rewrite (Conv + DepthToSpace)."""
    model = build_model("fsrcnn", scale).eval()
    ops = {n.op_type for n in onnx.load_from_string(export_onnx(model, fp16=True)).graph.node}
    assert "ConvTranspose" not in ops and "DepthToSpace" in ops
    assert isinstance(model.deconv, torch.nn.ConvTranspose2d), "export must not modify the caller's model"


def test_inference_form_is_exact(torch_seed):
    model = _model("fsrcnn", 3, False)
    x = torch.rand(1, 1, 13, 11)
    with torch.no_grad():
        ref = model(x)
        got = inference_form(copy.deepcopy(model))(x)
    assert (got - ref).abs().max() < 1e-5


def test_export_writes_the_returned_bytes(tmp_path):
    path = tmp_path / "m.onnx"
    data = export_onnx(build_model("espcn", 2).eval(), path, fp16=True)
    assert path.read_bytes() == data


def test_export_is_deterministic():
    """The engine cache keys on the graph's SHA-256: the same model must give the same bytes."""
    model = _model("fsrcnn", 2, False)
    assert export_onnx(model, fp16=True) == export_onnx(model, fp16=True)


def test_cli_export(tmp_path, capsys):
    from vsr.cli import main

    if not any(s.name == "espcn" and s.scale == 2 for s in list_models()):
        pytest.skip("no shipped espcn x2 weights")
    out = tmp_path / "espcn.onnx"
    assert main(["export", "--model", "espcn", "--scale", "2", "-o", str(out), "--fp16"]) == 0
    model = onnx.load(out)
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    before = out.read_bytes()
    assert main(["export", "--model", "espcn", "--scale", "2", "-o", str(out)]) == 2  # exists
    err = capsys.readouterr().err.strip()
    assert err.startswith("vsr: error:") and "--overwrite" in err and "\n" not in err
    assert out.read_bytes() == before
    assert main(["export", "--model", "espcn", "--scale", "2", "-o", str(out), "--overwrite"]) == 0
    assert onnx.load(out).graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["espcn.onnx"]


@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.key)
def test_fp16_graph_is_within_a_tenth_of_a_db_of_fp32_on_set5(spec, shared_data):
    """The FP16 graph strongly typed TensorRT builds from (weights and every activation
    rounded to FP16) loses < 0.1 dB PSNR against FP32 on each Set5 image. Run here on ONNX
    Runtime's CPU kernels; tests/test_gpu_path.py checks PyTorch's CUDA FP16 the same way."""
    from PIL import Image

    from vsr.quality import downscale, modcrop, psnr, rgb_to_y

    model = create_model(spec.name, spec.scale, spec.weights)
    fp32, fp16 = _session(export_onnx(model)), _session(export_onnx(model, fp16=True))
    images = sorted((shared_data / "val" / "Set5").glob("*.png"))
    assert len(images) == 5
    for path in images:
        hr = modcrop(np.asarray(Image.open(path).convert("RGB")), spec.scale)
        y, ref = rgb_to_y(downscale(hr, spec.scale))[None, None] / 255, rgb_to_y(hr)
        got = [np.rint(np.clip(s.run(None, {"y": y.astype(t)})[0][0, 0].astype(np.float64), 0, 1) * 255)
               for s, t in ((fp32, np.float32), (fp16, np.float16))]
        db32, db16 = (psnr(g, ref, spec.scale) for g in got)
        assert abs(db16 - db32) < 0.1, f"{path.name}: FP32 {db32:.3f} dB, FP16 {db16:.3f} dB"
        # the compressed set smooths clean LR a little: on Set5's head it is within 0.1 dB of bicubic
        margin = 0.5 if spec.weights == "clean" else -0.5
        assert db16 > psnr(np.rint(np.clip(_bicubic_y(y[0, 0], spec.scale), 0, 1) * 255), ref, spec.scale) + margin


def _bicubic_y(y: np.ndarray, scale: int) -> np.ndarray:
    from vsr.quality import upscale_bicubic

    h, w = y.shape
    return upscale_bicubic(torch.from_numpy(y).float()[None, None], (h * scale, w * scale))[0, 0].numpy()
