"""Shared pytest fixtures.

Data: third-party images and clips live outside the repository, under the data root of
:func:`tools.paths.data_root` (``$VSR_DATA_ROOT``, else ``../shared/data``; see
``shared/data/SOURCES.md``); tests that need them take the ``shared_data`` fixture and are
skipped where that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# --- data -------------------------------------------------------------------------------


# what the tests take from the data root (training images are only for tools/train.py)
_DATA_PARTS = ("val/Set5", "val/Set14", "video")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The data root (:func:`tools.paths.data_root`): ``train/``, ``val/Set5``, ``val/Set14``, ``video/``."""
    from tools.paths import data_root

    path = data_root()
    missing = [part for part in _DATA_PARTS if not (path / part).is_dir()]
    if missing:
        pytest.skip(f"needs the third-party test data (Set5, Set14, real video clips; sources and licences in "
                    f"its SOURCES.md, kept in ../shared/data beside the repository) at {path}, which lacks "
                    f"{', '.join(missing)}: set VSR_DATA_ROOT to the folder holding it")
    return path


# --- randomness -----------------------------------------------------------------------------


@pytest.fixture
def rng(request: pytest.FixtureRequest):
    """A NumPy generator seeded from the test's id: the same numbers on every run of that test,
    different ones between tests (instead of seeds scattered through the files)."""
    import zlib

    import numpy as np

    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def torch_seed(request: pytest.FixtureRequest) -> int:
    """Seeds PyTorch's global generator (network initialisation, ``torch.rand``) from the test's
    id, like :func:`rng`; returns the seed."""
    import zlib

    import torch

    seed = zlib.crc32(request.node.nodeid.encode())
    torch.manual_seed(seed)
    return seed


# --- generated media (see tests/media.py) ------------------------------------------------


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session folder for clips made by the fixtures below."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def make_clip(media_dir: Path):
    """``make_clip(name, **spec)``: :func:`tests.media.write_video` into ``media_dir``, once per name."""
    from media import write_video

    made: dict = {}

    def make(name: str, **spec):
        if name not in made:
            made[name] = write_video(media_dir / name, **spec)
        return made[name]

    return make


@pytest.fixture(scope="session")
def vfr_mp4(make_clip):
    """H.264 MP4, 64x48, 8 frames at irregular times (1 ms time base, B-frames), AAC audio,
    two chapters and global title/comment metadata."""
    from fractions import Fraction

    return make_clip("vfr.mp4", frames=8, time_base=Fraction(1, 1000), pts=[0, 40, 73, 120, 200, 210, 260, 330],
                     audio=True, chapters=[(0, 150, "Opening"), (150, 400, "Ending")],
                     metadata={"title": "vsr test clip", "comment": "made by tests/media.py"})


@pytest.fixture(scope="session")
def subs_mkv(make_clip):
    """FFV1 MKV, 64x48, 6 frames, AAC audio and a SubRip stream with two cues (one with markup)."""
    return make_clip("subs.mkv", codec="ffv1", audio=True,
                     subtitles=[(0, 100, "Hello <i>world</i>"), (120, 80, "Second line")])


@pytest.fixture(scope="session")
def hdr10_mkv(make_clip):
    """HEVC Main10 MKV, 64x48, 4 frames, BT.2020 / PQ, mastering display and content light level SEI."""
    from media import BT2020_PQ

    x265 = ("hdr10=1:repeat-headers=1:log-level=error:"
            "master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400")
    return make_clip("hdr10.mkv", codec="libx265", pix_fmt="yuv420p10le", frames=4, color=BT2020_PQ,
                     options={"preset": "ultrafast", "x265-params": x265})


@pytest.fixture(scope="session")
def interlaced_mkv(make_clip):
    """H.264 coded interlaced (``+ildct+ilme``), 64x64, 6 frames: decoded frames are flagged interlaced."""
    return make_clip("interlaced.mkv", size=(64, 64), options={"flags": "+ildct+ilme"})


@pytest.fixture(scope="session")
def gop_mp4(make_clip):
    """H.264 MP4, 96x64, 30 frames, a keyframe every 5, no B-frames: a longer clip for stop/cancel tests."""
    return make_clip("gop.mp4", size=(96, 64), frames=30, options={"g": "5", "bf": "0", "crf": "10"})


@pytest.fixture(scope="session")
def corrupt_ts(make_clip, media_dir: Path):
    """``(clean, damaged)``: H.264 in MPEG-TS, 96x64, 30 frames; in the damaged copy the payload of
    12 TS packets of video in the middle is noise (FFmpeg decodes every frame, concealing errors)."""
    from media import corrupt_packets

    clean = make_clip("clean.ts", size=(96, 64), frames=30, options={"g": "5", "bf": "0", "crf": "10"},
                      container_format="mpegts")
    damaged = media_dir / "damaged.ts"
    if not damaged.exists():
        assert corrupt_packets(clean.path, damaged, count=12) == 12
    return clean, damaged


@pytest.fixture(scope="session")
def broken_inputs(media_dir: Path, vfr_mp4) -> dict[str, Path]:
    """Inputs that are not videos: ``text``, ``empty``, ``audio_only``, ``truncated`` (MP4 cut before
    its moov atom), ``missing`` (no such file), ``directory``."""
    from media import truncate_before_moov, write_audio_only

    d = media_dir / "broken"
    if not d.exists():
        d.mkdir()
        (d / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
        (d / "empty.mp4").write_bytes(b"")
        write_audio_only(d / "audio.m4a")
        truncate_before_moov(vfr_mp4.path, d / "truncated.mp4")
        (d / "folder.mp4").mkdir()
    return {"text": d / "notes.mp4", "empty": d / "empty.mp4", "audio_only": d / "audio.m4a",
            "truncated": d / "truncated.mp4", "missing": d / "missing.mp4", "directory": d / "folder.mp4"}


@pytest.fixture(scope="session")
def espcn_x2():
    """The shipped ESPCN x2 on ONNX Runtime, built once: a ``(backend, radius)`` pair for
    ``upscale_video(loaded=...)``. Skips when those weights are not shipped."""
    from vsr.config import BackendConfig, ModelConfig
    from vsr.models.weights import list_models
    from vsr.pipeline import load_backend

    if not any(s.name == "espcn" and s.scale == 2 for s in list_models()):
        pytest.skip("no shipped espcn x2 weights")
    pair = load_backend(ModelConfig("espcn", 2), BackendConfig("onnxruntime"))
    yield pair
    pair[0].close()



# --- GPU runs must not pass by skipping ----------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """With ``VSR_REQUIRE_CUDA=1`` (set by ``tools/gpu_check.sh``) a test marked ``cuda`` or
    ``tensorrt`` that its skip markers skip (no GPU, no TensorRT) fails instead, so a GPU run
    cannot pass with nothing run. Skips a test decides itself (an FFmpeg build without NVENC)
    stay skips."""
    import os

    outcome = yield
    report = outcome.get_result()
    if (os.environ.get("VSR_REQUIRE_CUDA") == "1" and report.when == "setup" and report.skipped
            and any(next(item.iter_markers(name), None) for name in ("cuda", "tensorrt"))):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"VSR_REQUIRE_CUDA=1 but this GPU test would skip: {reason}"
