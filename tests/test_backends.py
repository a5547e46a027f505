"""Every registered backend against the reference network (Polygraphy style), the registry's
laziness and declared capabilities, OpenVINO's precision, and ``vsr info``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vsr.backends import backend_names, list_backends, resolve_name
from vsr.config import BackendConfig
from vsr.models.weights import create_model, get_spec, list_models

SHIPPED = [pytest.param(s.name, s.scale, s.weights, id=s.key) for s in list_models()]  # every weight set
ON_CPU = [e.name for e in list_backends() if e.unavailable("cpu") is None]
ON_CPU_HOST = [n for n in ON_CPU if n in ("onnxruntime", "openvino")]  # the backends on NumPy arrays


def _backend(name: str, model: str, scale: int, weights: str = "clean", **config):
    entry = {e.name: e for e in list_backends()}[name]
    return entry.create(None, get_spec(model, scale, weights), BackendConfig(name, "cpu", options=config))


def _run(backend, y: torch.Tensor) -> torch.Tensor:
    """``backend.run`` on what it takes: a NumPy array for a host backend, else a tensor."""
    if backend.host:
        out = backend.run(y.numpy())
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
        return torch.from_numpy(out)
    return backend.run(y.to(backend.dtype)).float()


@pytest.mark.parametrize("backend", ON_CPU)
@pytest.mark.parametrize("model,scale,weights", SHIPPED)
def test_every_available_backend_matches_the_reference_network(backend, model, scale, weights, rng):
    """Each backend that runs here gives the PyTorch FP32 network's output (``precision=f32``
    for OpenVINO; its bf16 is bounded separately below), with the shape and dtype it declares."""
    y = torch.from_numpy(rng.random((2, 1, 23, 31), dtype=np.float32))
    want = create_model(model, scale, weights)(y).detach()
    b = _backend(backend, model, scale, weights, precision="f32")
    try:
        got = _run(b, y)
    finally:
        b.close()
    assert got.shape == (2, 1, 23 * scale, 31 * scale)
    assert torch.allclose(got, want, atol=2e-5), (got - want).abs().max()


@pytest.mark.parametrize("backend", ON_CPU)
def test_declared_capabilities(backend):
    b = _backend(backend, "espcn", 2)
    try:
        assert isinstance(b.thread_safe, bool) and isinstance(b.cuda_graphs, bool) and isinstance(b.host, bool)
        assert b.max_size is None or (len(b.max_size) == 2 and min(b.max_size) > 0)
        twin = b.fork()
        assert twin is b or twin.scale == b.scale  # a fork runs the same network
    finally:
        b.close()


def test_registry_imports_no_backend_until_asked():
    """``import vsr.backends`` and ``--backend`` choices import no backend module (nor torch);
    ``auto`` on a CPU imports only what it ranks."""
    code = ("import sys, vsr.backends as b; names = b.backend_names(); "
            "mods = [m for m in ('vsr.backends.torch', 'vsr.backends.tensorrt', 'vsr.backends.openvino', "
            "'vsr.backends.onnxruntime', 'torch') if m in sys.modules]; "
            "print(names, mods)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out
    assert set(backend_names()) >= {"auto", "onnxruntime", "openvino", "torch", "tensorrt"}


def test_unknown_backend_is_one_clear_error(vfr_mp4, tmp_path, capsys):
    from vsr.cli import main

    with pytest.raises(SystemExit) as e:  # a usage error, caught by the argument parser
        main(["upscale", str(vfr_mp4.path), "-o", str(tmp_path / "o.mp4"), "--backend", "nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--backend: 'nope' is not one of auto" in err[0] and "openvino" in err[0], err
    assert list(tmp_path.iterdir()) == []


# --- OpenVINO precision -------------------------------------------------------------------------

ov = pytest.importorskip("openvino")
from vsr.backends.openvino import native_bf16  # noqa: E402

needs_bf16 = pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16 (AVX512_BF16, AMX)")


@needs_bf16
@pytest.mark.parametrize("model", ["espcn", "fsrcnn"])
@pytest.mark.parametrize("depth", [8, 10, 12])
def test_bf16_keeps_deep_output_within_five_hundredths_of_a_db(model, depth, shared_data):
    """bf16 computes only the residual; the input is added back in float32, so 10- and 12-bit
    output stays within 0.05 dB of f32 (a bf16 add would cost several 10-bit codes near white)."""
    from PIL import Image

    from vsr.quality import downscale, modcrop, psnr, rgb_to_y

    peak = (1 << depth) - 1
    diffs = []
    for name in ("butterfly", "bird", "head"):
        hr = modcrop(np.asarray(Image.open(shared_data / f"val/Set5/{name}.png").convert("RGB")), 2)
        ref = rgb_to_y(hr) / 255 * peak
        y = torch.from_numpy(rgb_to_y(downscale(hr, 2)) / 255).float()[None, None]
        out = {}
        for precision in ("f32", "bf16"):
            b = _backend("openvino", model, 2, precision=precision)
            assert b.precision == precision
            out[precision] = np.rint(_run(b, y).clamp(0, 1)[0, 0].numpy().astype(np.float64) * peak)
            b.close()
        diffs.append(abs(psnr(out["bf16"], ref, 2, peak=peak) - psnr(out["f32"], ref, 2, peak=peak)))
    assert max(diffs) < 0.05, diffs


def test_precision_auto_follows_the_cpu_and_bf16_is_refused_where_not_native():
    b = _backend("openvino", "espcn", 2)  # int8 where native and its graph passed (tests/test_int8.py)
    assert b.precision in (("int8", "bf16") if native_bf16() else ("int8", "f32"))
    b.close()
    if not native_bf16():
        from vsr.errors import BackendError

        with pytest.raises(BackendError, match="no native bf16"):
            _backend("openvino", "espcn", 2, precision="bf16")


def test_auto_on_a_cpu_picks_the_fastest_measured_backend_per_model():
    """OpenVINO for both networks where it computes in bf16; in f32 ESPCN goes to ONNX Runtime
    (measured faster there), FSRCNN stays on OpenVINO (docs/performance.md)."""
    assert resolve_name("auto", "cpu") == "openvino"
    assert resolve_name("auto", "cpu", "fsrcnn") == "openvino"
    assert resolve_name("auto", "cpu", "espcn") == ("openvino" if native_bf16() else "onnxruntime")


def test_first_inferences_on_many_threads_at_once_do_not_hang(tmp_path):
    """OpenVINO's binding deadlocked when two threads made a process's first inference at the
    same time (a C++ static initialised under the GIL whose initialiser releases it: py-spy
    showed one thread in ``__cxa_guard_acquire``, the other waiting for the GIL); vsr processes
    with two inference workers then stalled for good. Fresh processes, eight threads released
    together by a barrier, each must finish with the network's output."""
    code = ("import threading, numpy as np; from vsr.backends import create_backend; "
            "from vsr.config import BackendConfig; from vsr.models.weights import get_spec; "
            "b = create_backend(None, get_spec('espcn', 2), BackendConfig('openvino', 'cpu', threads=1)); "
            "x = np.full((1, 1, 24, 32), 0.5, np.float32); bar = threading.Barrier(8); out = []; "
            "go = lambda: (bar.wait(), out.append(b.run(x))); "
            "ts = [threading.Thread(target=go) for _ in range(8)]; [t.start() for t in ts]; [t.join() for t in ts]; "
            "print(len(out), all(o.shape == (1, 1, 48, 64) and np.array_equal(o, out[0]) for o in out))")
    # an empty engine folder each time: OpenVINO's on-disk cache, when it was on by default, made
    # processes filling it at once die of SIGBUS (CI's fresh clone, 1 run in 8 here)
    env = {**os.environ, "VSR_ENGINE_DIR": str(tmp_path)}
    env.pop("VSR_OPENVINO_CACHE", None)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(4)]
    try:
        results = [p.communicate(timeout=60) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        pytest.fail("a process hung in its first OpenVINO inferences")
    assert [(p.returncode, out.split()) for p, (out, _) in zip(procs, results)] == [(0, ["8", "True"])] * 4, results


def test_openvino_compiles_once_per_shape():
    b = _backend("openvino", "fsrcnn", 3)
    try:
        for _ in range(3):
            _run(b, torch.rand(1, 1, 20, 24))
        _run(b, torch.rand(1, 1, 16, 16))
        assert len(b._compiled) == 2
    finally:
        b.close()


def test_vsr_info_reports_backends_cpu_and_cache():
    proc = subprocess.run([sys.executable, "-m", "vsr", "info", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    names = {b["name"]: b for b in facts["backends"]}
    assert set(names) >= {"onnxruntime", "openvino", "torch", "tensorrt"}
    assert names["onnxruntime"]["devices"]["cpu"] == "available"
    assert "cuda" in names["tensorrt"]["devices"]  # available, or why not
    assert isinstance(facts["cpu"]["bf16"], bool) and facts["cpu"]["cores"] >= 1
    assert facts["openvino_precision"] in ("bf16", "f32") and facts["engine_cache"]
    # what auto picks per model here: the backend resolve_name picks, its precision, and why
    from vsr.backends import resolve_name

    picks = {(a["model"], a["device"]): a for a in facts["auto"]}
    for model in ("espcn", "fsrcnn"):
        cpu = picks[(model, "cpu")]
        assert cpu["backend"] == resolve_name("auto", "cpu", model) and cpu["why"]
        if cpu["backend"] == "openvino":  # int8 where its x2 graph qualifies (tests/test_int8.py), else the float one
            from vsr.backends.openvino import resolve_precision
            from vsr.devices import native_int8

            int8 = get_spec(model, 2).graphs.get("int8")
            assert cpu["precision"] == resolve_precision("auto", int8, facts["cpu"]["bf16"], native_int8())
            assert cpu["precision"] in ("int8", facts["openvino_precision"])
        else:
            assert cpu["precision"] == "f32"
    assert "compressed" in facts["weights_policy"] and "clean" in facts["weights_policy"]
    text = subprocess.run([sys.executable, "-m", "vsr", "info"], capture_output=True, text=True, timeout=120).stdout
    assert "backends:" in text and "openvino" in text and "engine cache:" in text
    assert "espcn on cpu: " + picks[("espcn", "cpu")]["backend"] in text and "weights: --weights auto" in text


# --- shipped ONNX graphs ------------------------------------------------------------------------


@pytest.mark.parametrize("model,scale,weights", SHIPPED)
def test_shipped_graphs_are_checksummed_current_and_equal_to_pytorch(model, scale, weights, rng):
    """tools.export_onnx's graphs ship for every weight set; they are what exporting the
    shipped weights gives today (no stale graph after retraining) and compute the network."""
    import onnxruntime as ort

    from tools import export_onnx

    spec = get_spec(model, scale, weights)
    assert set(spec.graphs) == {"direct", "residual", "int8"}  # int8: tools.quantize (tests/test_int8.py)
    fresh = export_onnx.graphs_for(model, scale, weights)
    y = rng.random((1, 1, 17, 21), dtype=np.float32)
    net = create_model(model, scale, weights)
    want = net(torch.from_numpy(y)).detach().numpy()
    residual = torch.nn.functional.pixel_unshuffle(torch.from_numpy(want), scale).numpy() - y
    for form, expected in (("direct", want), ("residual", residual)):
        data = spec.graph(form)
        assert data == fresh[form], f"{form} graph is stale: run python -m tools.export_onnx"
        (out,) = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"y": y})
        np.testing.assert_allclose(out, expected, atol=2e-5)


def test_a_tampered_graph_is_refused(tmp_path, monkeypatch):
    from vsr.errors import WeightsError
    from vsr.models import weights as weights_mod

    spec = get_spec("espcn", 2)
    data = bytearray(spec.graph("direct"))
    data[len(data) // 2] ^= 0xFF
    (tmp_path / spec.graphs["direct"]["file"]).write_bytes(bytes(data))
    monkeypatch.setattr(weights_mod, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(WeightsError, match="checksum"):
        spec.graph("direct")
    with pytest.raises(WeightsError, match="missing"):
        spec.graph("residual")


@pytest.mark.parametrize("backend", ["auto", *ON_CPU_HOST])
def test_a_cpu_upscale_never_imports_torch(backend, vfr_mp4, tmp_path):
    """The CPU default (and each host backend) runs the shipped ONNX graphs on NumPy: a whole
    upscale through the CLI, frames and timestamps checked, and PyTorch never imported."""
    out = tmp_path / "out.mkv"
    code = ("import sys; from vsr.cli import main; "
            f"rc = main(['upscale', {str(vfr_mp4.path)!r}, '-o', {str(out)!r}, '--codec', 'ffv1', "
            f"'--progress', 'none', '--backend', {backend!r}, '--device', 'cpu']); "
            "print(rc, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "0 False", proc.stdout + proc.stderr
    import av

    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == vfr_mp4.frames and (frames[0].width, frames[0].height) == (128, 96)
    # Matroska starts every stream at >= 0: the AAC priming may shift all of them alike
    assert np.diff([f.time for f in frames]) == pytest.approx(np.diff([float(t) for t in vfr_mp4.times]), abs=1e-3)
