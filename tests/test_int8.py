"""OpenVINO int8: the shipped graphs (checksums, recorded quality), ``auto``'s choice rules, and
``--precision int8`` end to end on a clip made from a Set5 image."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from vsr.models.weights import WEIGHTS_DIR, list_models

pytest.importorskip("openvino")

from vsr.backends.openvino import MIN_INT8_SPEEDUP, native_bf16, resolve_precision  # noqa: E402
from vsr.devices import native_int8  # noqa: E402

PASSED = {"quality": {"passed": True}, "speedup_vs_bf16": 1.4}


@pytest.mark.parametrize(
    "requested, int8, bf16, vnni, expected",
    [
        ("auto", PASSED, True, True, "int8"),  # AMX / VNNI, a graph that passed and is faster
        ("auto", PASSED, False, True, "int8"),  # VNNI without bf16 (Ice Lake, Cascade Lake)
        ("auto", PASSED, True, False, "bf16"),  # no native int8: emulated int8 is not taken
        ("auto", PASSED, False, False, "f32"),  # neither: f32, the exact path
        ("auto", {"quality": {"passed": False}, "speedup_vs_bf16": 1.4}, True, True, "bf16"),  # lost > 0.05 dB
        ("auto", {"quality": {"passed": True}, "speedup_vs_bf16": MIN_INT8_SPEEDUP - 0.01}, True, True, "bf16"),
        ("auto", None, True, True, "bf16"),  # no int8 graph shipped
        ("int8", None, False, False, "int8"),  # asked for: kept (int8 runs emulated anywhere)
        ("f32", PASSED, True, True, "f32"),
        ("bf16", PASSED, True, True, "bf16"),
    ],
)
def test_auto_picks_int8_only_where_native_faster_and_within_the_quality_bound(requested, int8, bf16, vnni, expected):
    assert resolve_precision(requested, int8, bf16, vnni) == expected


@pytest.mark.parametrize("spec", list_models(), ids=lambda s: s.key)
def test_every_weight_set_ships_a_small_checksummed_int8_graph_with_its_quality(spec):
    entry = spec.graphs["int8"]
    data = spec.graph("int8")  # raises on a checksum mismatch
    assert data.startswith(b"\x08") and len(data) < len(spec.graph("residual"))  # smaller than the float graph
    assert (WEIGHTS_DIR / entry["file"]).read_bytes() == data
    quality = entry["quality"]
    losses = [quality[s]["f32"] - quality[s]["int8"] for s in ("set5", "set14")]
    assert quality["passed"] == (max(losses) <= 0.05)
    assert entry["speedup_vs_bf16"] > 0 and entry["float_layers"]


def test_a_tampered_int8_graph_is_refused(tmp_path, monkeypatch):
    from vsr.errors import WeightsError
    from vsr.models import weights

    spec = list_models()[0]
    bad = tmp_path / spec.graphs["int8"]["file"]
    bad.write_bytes(spec.graph("int8")[:-1] + b"\x00")
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(WeightsError, match="does not match its checksum"):
        spec.graph("int8")


def test_auto_on_this_cpu_follows_the_rules(tmp_path):
    from vsr.backends import list_backends
    from vsr.config import BackendConfig
    from vsr.models.weights import get_spec

    spec = get_spec("espcn", 2)
    entry = {e.name: e for e in list_backends()}["openvino"]
    b = entry.create(None, spec, BackendConfig("openvino", "cpu"))
    assert b.precision == resolve_precision("auto", spec.graphs.get("int8"), native_bf16(), native_int8())
    b.close()


def _luma(rgb: np.ndarray) -> np.ndarray:
    return av.VideoFrame.from_ndarray(rgb, "rgb24").reformat(format="yuv420p").to_ndarray()[: rgb.shape[0]]


def test_precision_int8_end_to_end_gains_over_bicubic_close_to_f32(tmp_path, shared_data):
    """A clip of Set5's butterfly at half size (FFV1, lossless), upscaled x2 with int8 and with f32:
    int8's PSNR gain over bicubic against the full-size picture is within 0.1 dB of f32's."""
    from PIL import Image

    from tests.media import psnr
    from vsr import upscale_video
    from vsr.quality import downscale, modcrop

    hr = modcrop(np.asarray(Image.open(shared_data / "val/Set5/butterfly.png").convert("RGB")), 4)
    lr = downscale(hr, 2)
    src = tmp_path / "lr.mkv"
    with av.open(str(src), "w") as out:
        st = out.add_stream("ffv1", rate=Fraction(25))
        st.width, st.height, st.pix_fmt = lr.shape[1], lr.shape[0], "yuv420p"
        for i in range(2):
            f = av.VideoFrame.from_ndarray(lr, "rgb24").reformat(format="yuv420p")
            f.pts = i
            out.mux(st.encode(f))
        out.mux(st.encode(None))
    ref = _luma(hr)
    bicubic = np.asarray(Image.fromarray(_luma(lr)).resize(ref.shape[::-1], Image.BICUBIC))
    gains = {}
    for precision in ("f32", "int8"):
        dst = tmp_path / f"{precision}.mkv"
        stats = upscale_video(src, dst, backend="openvino", precision=precision, codec="ffv1", model="espcn", scale=2)
        with av.open(str(dst)) as c:
            frames = [f.reformat(format="yuv420p").to_ndarray()[: ref.shape[0]] for f in c.decode(video=0)]
        assert len(frames) == 2 and stats.frames == 2 and stats.precision == precision
        gains[precision] = psnr(frames[0], ref, 255, 2) - psnr(bicubic, ref, 255, 2)
    assert gains["f32"] > 1.0, gains
    assert abs(gains["int8"] - gains["f32"]) < 0.1, gains
