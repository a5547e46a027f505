"""The CUDA path (pinned memory, copy/compute streams, FP16, CUDA graphs, NVENC/NVDEC).

Each test runs on the CPU too where that makes sense (``device`` parametrised as
``("cpu", cuda)``), so the same assertions hold everywhere; CUDA cases skip cleanly
without a GPU.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from vsr.backends.torch import TorchBackend
from vsr.frames import ColorTags, YuvFrame
from vsr.models.weights import create_model
from vsr.quality import psnr
from vsr.upscale.device import DeviceUpscaler as Upscaler

HAS_CUDA = torch.cuda.is_available()
needs_cuda = [pytest.mark.cuda, pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")]
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


def _frames(n: int, h: int = 72, w: int = 128, depth: int = 8) -> list[YuvFrame]:
    maxv = (1 << depth) - 1
    dtype = np.uint8 if depth == 8 else np.uint16
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        y = maxv * (0.5 + 0.35 * np.sin((xx + 3 * i) / 4.0) * np.cos(yy / 6.0))
        u = np.full((h // 2, w // 2), maxv // 2) + (np.arange(w // 2) % 7)
        planes = (y.astype(dtype), u.astype(dtype), u[::-1].astype(dtype))
        out.append(YuvFrame(planes, depth, (1, 1), i * 512, Fraction(1, 12800), ColorTags(1, 1, 1, 1), i))
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("depth", [8, 10])
def test_upscaler_matches_the_cpu_reference(device, depth):
    """Streams, pinned copies and FP16 on the GPU give the CPU's FP32 result (PSNR > 45 dB)."""
    model = create_model("espcn", 2)
    ref = Upscaler(TorchBackend(model, "cpu"), 4).upscale(_frames(3, depth=depth))
    up = Upscaler(TorchBackend(model, device), 4)
    pending = [up.submit(_frames(3, depth=depth)[i : i + 1]) for i in range(3)]  # three in flight
    got = [f for p in pending for f in up.collect(p)]
    for a, b in zip(got, ref):
        assert a.pts == b.pts and a.planes[0].dtype == b.planes[0].dtype
        for pa, pb in zip(a.planes, b.planes):
            assert psnr(pa.astype(np.float64), pb.astype(np.float64), peak=(1 << depth) - 1) > 45


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_fp16_within_a_tenth_of_a_db_of_fp32(device, shared_data):
    from PIL import Image

    from vsr.quality import downscale, modcrop, rgb_to_y

    hr = modcrop(np.asarray(Image.open(shared_data / "val/Set5/butterfly.png").convert("RGB")), 2)
    y = torch.from_numpy(rgb_to_y(downscale(hr, 2)) / 255).float()[None, None]
    model = create_model("espcn", 2)
    ref_y = rgb_to_y(hr)
    fp32 = TorchBackend(model, "cpu").run(y).clamp(0, 1)[0, 0].numpy() * 255
    fp16 = TorchBackend(model, device).run(y.to(device).half()).float().clamp(0, 1)[0, 0].cpu().numpy() * 255
    assert abs(psnr(fp16, ref_y, 2) - psnr(fp32, ref_y, 2)) < 0.1


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_cuda_graphs_equal_eager(device):
    model = create_model("fsrcnn", 2)
    eager, graphs = TorchBackend(model, device), TorchBackend(model, device, cuda_graphs=True)
    for shape in [(1, 1, 64, 96), (2, 1, 40, 40), (1, 1, 64, 96)]:
        y = torch.rand(shape, device=device, dtype=torch.float16)
        assert torch.equal(graphs.run(y), eager.run(y))
    assert len(graphs._graphs) == 2


@pytest.mark.parametrize("device", DEVICES)
def test_pipeline_end_to_end(device, vfr_mp4, tmp_path):
    from vsr.pipeline import upscale_video

    out = tmp_path / "out.mkv"
    stats = upscale_video(vfr_mp4.path, out, backend="torch" if device == "cuda" else "onnxruntime", device=device,
                          codec="ffv1")
    with av.open(str(vfr_mp4.path)) as a, av.open(str(out)) as b:
        ta = [float(f.pts * f.time_base) for f in a.decode(video=0)]
        tb = [float(f.pts * f.time_base) for f in b.decode(video=0)]
    assert stats.frames == len(ta) == len(tb)
    # Matroska starts every stream at >= 0, so AAC priming may shift all of them alike
    assert np.allclose(np.diff(ta), np.diff(tb), atol=1e-3)


NVENC = ["h264_nvenc", "hevc_nvenc", "av1_nvenc"]


def _nvenc_encoder(codec, tmp_path):
    from vsr.media.decode import Decoder
    from vsr.media.encode import Encoder

    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {codec}")
    frame = _frames(1, 256, 256)[0]
    src = Decoder(_tiny_source(tmp_path))
    list(src)  # the first frame decoded: the source is known
    return Encoder(tmp_path / "n.mp4", frame, src.source_info(), _config(codec)), frame, src


@pytest.mark.skipif(HAS_CUDA, reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("codec", NVENC)
def test_nvenc_without_a_gpu_is_refused_with_the_fix(codec, tmp_path):
    from vsr.errors import MediaError

    with pytest.raises(MediaError) as refused:
        _nvenc_encoder(codec, tmp_path)
    assert "NVENC" in str(refused.value) and "libx264" in str(refused.value)


@pytest.mark.parametrize("codec", [pytest.param(c, marks=needs_cuda) for c in NVENC])
def test_nvenc_encodes_on_a_gpu(codec, tmp_path):
    from vsr.errors import MediaError

    try:
        enc, frame, src = _nvenc_encoder(codec, tmp_path)
    except MediaError as e:  # a GPU without video encoders (H100, A100) or without this codec
        pytest.skip(f"this GPU cannot encode {codec}: {e}")
    enc.encode(frame)
    enc.close()
    src.close()
    with av.open(str(tmp_path / "n.mp4")) as c:
        decoded = list(c.decode(video=0))
    assert len(decoded) == 1 and (decoded[0].width, decoded[0].height) == (256, 256)


def _config(codec):
    from vsr.config import EncodeConfig

    return EncodeConfig(codec=codec)


def _tiny_source(tmp_path):
    path = tmp_path / "src.mkv"
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
        f = av.VideoFrame(16, 16, "yuv420p")
        for plane in f.planes:
            plane.update(bytes(plane.buffer_size))
        f.pts = 0
        for p in s.encode(f):
            out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_nvdec_decodes_like_the_cpu(device, vfr_mp4):
    from vsr.media.decode import Decoder

    cpu = list(Decoder(vfr_mp4.path))
    gpu = list(Decoder(vfr_mp4.path, hwaccel="cuda"))
    assert [f.pts for f in gpu] == [f.pts for f in cpu]
    for a, b in zip(gpu, cpu):
        assert np.abs(a.planes[0].astype(int) - b.planes[0].astype(int)).max() <= 2


@pytest.mark.skipif(HAS_CUDA, reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("hwdec", ["cuda", "cuda:1"])
def test_nvdec_without_a_gpu_is_refused_in_one_line(hwdec, vfr_mp4, tmp_path, capsys):
    from vsr.cli import main

    out = tmp_path / "out.mkv"
    rc = main(["upscale", str(vfr_mp4.path), "-o", str(out), "--hwdec", "cuda"]
              + (["--device", hwdec] if ":" in hwdec else []))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and not out.exists() and list(tmp_path.iterdir()) == []
    assert len(err) == 1 and err[0].startswith("vsr: error:"), err
    assert ("no CUDA GPU" in err[0] or "no NVIDIA GPU" in err[0]) and "leave out --hwdec" in err[0]


def test_nvdec_decodes_on_the_gpu_that_infers():
    from vsr.config import BackendConfig, UpscaleConfig
    from vsr.pipeline import _hwdec_device

    assert _hwdec_device(UpscaleConfig(backend=BackendConfig(device="cuda:1"), hwdec="cuda")) == "cuda:1"
    assert _hwdec_device(UpscaleConfig(backend=BackendConfig(device="cuda"), hwdec="cuda")) == "cuda"
    assert _hwdec_device(UpscaleConfig(backend=BackendConfig(device="cpu"), hwdec="cuda")) == "cuda"
    assert _hwdec_device(UpscaleConfig(backend=BackendConfig(device="cuda:1"))) is None


def test_a_backend_without_cuda_graphs_is_its_own_fork():
    backend = TorchBackend(create_model("espcn", 2), "cpu")
    assert backend.fork() is backend


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_concurrent_jobs_on_cuda_graphs_get_their_own_graphs(device):
    """Two jobs replaying graphs at once (vsr batch --jobs 2) each get their own static
    buffers from fork(), so neither sees the other's frames."""
    from concurrent.futures import ThreadPoolExecutor

    model = create_model("espcn", 2)
    shared = TorchBackend(model, device, cuda_graphs=True)
    eager = TorchBackend(model, device)
    inputs = [torch.rand((1, 1, 64, 96), device=device, dtype=torch.float16) for _ in range(2)]

    def job(i):
        mine, stream = shared.fork(), torch.cuda.Stream(device)
        with torch.cuda.stream(stream):
            outs = [mine.run(inputs[i]) for _ in range(20)]
        stream.synchronize()
        mine.close()
        return outs

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(job, range(2)))
    for i, outs in enumerate(results):
        want = eager.run(inputs[i])
        assert all(torch.equal(o, want) for o in outs)
    assert shared._model is not None  # closing the forks left the shared weights alone


def test_cuda_graphs_where_they_cannot_apply_are_ignored_with_a_warning(caplog):
    import logging

    from vsr.config import BackendConfig, ModelConfig
    from vsr.pipeline import load_backend

    with caplog.at_level(logging.WARNING, logger="vsr"):
        backend, _ = load_backend(ModelConfig("espcn", 2), BackendConfig("onnxruntime", "cpu", options={"cuda_graphs": True}))
    backend.close()
    assert any("--cuda-graphs" in r.getMessage() and "onnxruntime on cpu" in r.getMessage() for r in caplog.records)
