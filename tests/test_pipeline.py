"""The streaming video pipeline end to end, on clips generated with PyAV (tests/media.py).

Each test runs the real decode -> upscale (ESPCN x2 on ONNX Runtime) -> encode chain and then
reads the output back with PyAV to check what a user would: frame count and timestamps,
size, pixel format, colour tags, HDR metadata, rotation, audio/subtitle streams, chapters and
global metadata. FFV1 is used where pixel values must survive the encoder exactly.
"""

from __future__ import annotations

import logging
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media import BT2020_PQ, BT709, FULL_RANGE, chapters, languages, packets, psnr, read_video, sha256, stream_codecs
from vsr.backends import LoadedBackend
from vsr.errors import VsrError
from vsr.pipeline import upscale_video


def _bicubic(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Independent reference: Pillow's bicubic resize of one plane to ``(width, height)``, float64."""
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize(size, Image.BICUBIC), np.float64)


def _network_luma(backend, y: np.ndarray, peak: int) -> np.ndarray:
    """Reference luma: the backend run directly on one plane scaled to [0, 1], quantised back to codes."""
    import torch

    x = (y.astype(np.float32) / peak)[None, None]
    out = backend.run(x)[0, 0] if backend.host else backend.run(torch.from_numpy(x))[0, 0].numpy()
    return np.clip(np.rint(out.astype(np.float64) * peak), 0, peak)


def _no_partials(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.vsr-partial-*"))


def _vsr_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vsr-") and not t.name.startswith("vsr-batch")]


# --- timing, streams, chapters, metadata ------------------------------------------------------


def test_vfr_mp4_keeps_timestamps_audio_chapters_and_metadata(vfr_mp4, espcn_x2, tmp_path: Path) -> None:
    src_hash = sha256(vfr_mp4.path)
    dst = tmp_path / "out.mp4"
    stats = upscale_video(vfr_mp4.path, dst, loaded=espcn_x2)

    src, out = read_video(vfr_mp4.path), read_video(dst)
    assert stats.frames == len(out.times) == len(src.times) == 8
    assert out.times == src.times == list(vfr_mp4.times)  # exact: irregular spacing kept, nothing re-timed
    assert (out.width, out.height) == (128, 96) and stats.output_size == (128, 96)
    assert stats.input_size == (64, 48)
    # audio copied untouched: same codec, same packets, same times
    assert packets(dst, "audio") == packets(vfr_mp4.path, "audio")
    assert [t for t, _ in stream_codecs(dst)] == [t for t, _ in stream_codecs(vfr_mp4.path)]
    assert stream_codecs(dst)[:2] == [("video", "h264"), ("audio", "aac")]
    assert languages(dst)[1] == ("audio", "fra")
    assert chapters(dst) == chapters(vfr_mp4.path) == [
        (Fraction(0), Fraction(3, 20), "Opening"), (Fraction(3, 20), Fraction(2, 5), "Ending")]
    import av

    with av.open(str(dst)) as c:
        assert c.metadata["title"] == "vsr test clip" and c.metadata["comment"] == "made by tests/media.py"
    assert sha256(vfr_mp4.path) == src_hash
    assert _no_partials(tmp_path) == []


def test_vfr_mp4_to_mkv_keeps_frame_spacing_and_av_sync(vfr_mp4, espcn_x2, tmp_path: Path) -> None:
    """Matroska cannot start below 0 and the AAC priming packet sits at -21 ms, so the muxer shifts
    every stream by the same amount (as ffmpeg does): spacing and audio/video offset stay exact."""
    dst = tmp_path / "out.mkv"
    upscale_video(vfr_mp4.path, dst, loaded=espcn_x2, codec="ffv1")
    src, out = read_video(vfr_mp4.path), read_video(dst)
    shift = out.times[0] - src.times[0]
    assert 0 <= shift <= Fraction(1, 40)
    assert out.times == [t + shift for t in src.times]  # spacing exact
    audio_shift = packets(dst, "audio")[0][0] - packets(vfr_mp4.path, "audio")[0][0]
    assert abs(audio_shift - shift) <= Fraction(1, 1000)  # sync kept to Matroska's 1 ms precision
    assert chapters(dst) == chapters(vfr_mp4.path)
    assert [p for _, p in packets(dst, "audio")] == [p for _, p in packets(vfr_mp4.path, "audio")]


def test_subrip_in_mkv_becomes_mov_text_in_mp4(subs_mkv, espcn_x2, tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    upscale_video(subs_mkv.path, dst, loaded=espcn_x2)
    assert stream_codecs(dst) == [("video", "h264"), ("audio", "aac"), ("subtitle", "mov_text")]
    cues = [(t, p[2 : 2 + int.from_bytes(p[:2], "big")].decode()) for t, p in packets(dst, "subtitle")]
    assert [c for c in cues if c[1]] == [(Fraction(0), "Hello world"), (Fraction(3, 25), "Second line")]
    assert packets(dst, "audio") == packets(subs_mkv.path, "audio")
    assert languages(dst)[1:] == [("audio", "fra"), ("subtitle", "eng")]
    assert read_video(dst).times == read_video(subs_mkv.path).times


def test_subrip_in_mkv_copied_to_mkv(subs_mkv, espcn_x2, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    upscale_video(subs_mkv.path, dst, loaded=espcn_x2, codec="ffv1")
    assert [k for k in stream_codecs(dst)] == [("video", "ffv1"), ("audio", "aac"), ("subtitle", "srt")]
    assert packets(dst, "subtitle") == packets(subs_mkv.path, "subtitle")  # markup and all
    assert packets(dst, "audio") == packets(subs_mkv.path, "audio")
    assert languages(dst)[1:] == [("audio", "fra"), ("subtitle", "eng")]


def test_camera_timecode_track_is_kept_in_every_container(make_clip, espcn_x2, tmp_path: Path, caplog) -> None:
    """A camera MOV with a timecode (tmcd) track: MOV/MP4 outputs get a timecode track again,
    Matroska the tag, and nothing fails (a copied tmcd stream made every muxer refuse)."""
    import av

    clip = make_clip("timecode.mov", frames=5, video_metadata={"timecode": "01:02:03:04"})
    assert [s for s, _ in stream_codecs(clip.path)] == ["video", "data"]
    for ext in ("mov", "mp4", "mkv", "mkv.mp4"):  # the last: Matroska's TIMECODE tag back to MP4
        src = tmp_path / "out.mkv" if ext == "mkv.mp4" else clip.path
        out = tmp_path / f"out.{ext}"
        with caplog.at_level(logging.WARNING, logger="vsr"):
            upscale_video(src, out, loaded=espcn_x2)
        assert not [r for r in caplog.records if "dropped" in r.getMessage()]
        with av.open(str(out)) as c:
            tags = {k.lower(): v for k, v in c.streams.video[0].metadata.items()}  # Matroska: TIMECODE
            assert tags.get("timecode") == "01:02:03:04"
            tracks = [s for s in c.streams if s.type == "data"]
            assert len(tracks) == (0 if ext == "mkv" else 1)
            assert all(s.metadata.get("timecode") == "01:02:03:04" for s in tracks)
        assert len(read_video(out).times) == clip.frames


def test_klv_metadata_is_copied_into_mpegts_and_dropped_with_a_warning_elsewhere(make_clip, espcn_x2,
                                                                                 tmp_path: Path, caplog) -> None:
    """Surveillance/aerial footage carries KLV metadata in MPEG-TS: TS output keeps every packet
    at its time; containers that cannot hold it drop it, saying so, instead of failing."""
    clip = make_clip("klv.ts", frames=6, klv=True)
    ts = tmp_path / "out.ts"
    upscale_video(clip.path, ts, loaded=espcn_x2)
    assert stream_codecs(ts)[1][0] == "data"
    assert packets(ts, "data") == packets(clip.path, "data") and len(packets(ts, "data")) == 6
    for ext in ("mp4", "mkv"):
        out = tmp_path / f"out.{ext}"
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vsr"):
            upscale_video(clip.path, out, loaded=espcn_x2)
        assert [s for s, _ in stream_codecs(out)] == ["video"]
        assert any("data klv" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)
        assert len(read_video(out).times) == 6


def test_ass_with_font_attachment(make_clip, espcn_x2, tmp_path: Path) -> None:
    """An anime-style MKV: ASS subtitles plus the font they use as an attachment. MKV output keeps
    both; MP4 output gets the plain text as mov_text and drops the font (MP4 cannot hold it)."""
    font = ("subtitle-font.ttf", "application/x-truetype-font", b"\x00\x01\x00\x00" + bytes(range(256)) * 4)
    clip = make_clip("ass.mkv", codec="ffv1", frames=4, subtitle_codec="ass", attachment=font,
                     subtitles=[(0, 120, r"0,0,Default,,0,0,0,,{\i1}Styled{\i0} text\Nline two")])
    # FFmpeg names the ASS decoder "ssa"
    assert stream_codecs(clip.path) == [("video", "ffv1"), ("subtitle", "ssa"), ("attachment", "")]

    mkv = tmp_path / "out.mkv"
    upscale_video(clip.path, mkv, loaded=espcn_x2, codec="ffv1")
    assert stream_codecs(mkv) == stream_codecs(clip.path)
    assert packets(mkv, "subtitle") == packets(clip.path, "subtitle")
    import av

    with av.open(str(mkv)) as c:
        att = c.streams.attachments[0]
        assert att.name == "subtitle-font.ttf" and att.data == font[2]

    mp4 = tmp_path / "out.mp4"
    upscale_video(clip.path, mp4, loaded=espcn_x2)
    assert stream_codecs(mp4) == [("video", "h264"), ("subtitle", "mov_text")]
    assert [p for _, p in packets(mp4, "subtitle") if len(p) > 2] == [b"\x00\x14Styled text\nline two"]
    assert languages(mp4)[1] == ("subtitle", "eng")


# --- pixel formats, colour, HDR ---------------------------------------------------------------

FORMATS = [
    ("yuv420p", BT709), ("yuv420p10le", BT2020_PQ), ("yuv422p", BT709), ("yuv422p10le", BT709),
    ("yuv444p", BT709), ("yuv444p10le", BT2020_PQ), ("gray", BT709), ("gray10le", BT709),
]


@pytest.mark.parametrize(("pix_fmt", "color"), FORMATS, ids=[f for f, _ in FORMATS])
def test_format_depth_subsampling_and_colour_kept(pix_fmt: str, color, make_clip, espcn_x2, tmp_path: Path) -> None:
    clip = make_clip(f"fmt_{pix_fmt}.mkv", codec="ffv1", pix_fmt=pix_fmt, color=color, frames=3)
    dst = tmp_path / "out.mkv"
    upscale_video(clip.path, dst, loaded=espcn_x2, codec="ffv1")
    src, out = read_video(clip.path), read_video(dst)
    assert src.pix_fmt == pix_fmt and out.pix_fmt == pix_fmt
    assert out.color == src.color == (color.range, color.space, color.primaries, color.trc)
    assert out.times == src.times
    peak = 1023 if "10" in pix_fmt else 255
    for s_planes, o_planes in zip(src.planes, out.planes):
        assert len(o_planes) == len(s_planes)
        for i, (s, o) in enumerate(zip(s_planes, o_planes)):
            assert o.shape == (2 * s.shape[0], 2 * s.shape[1]), f"plane {i}"
            assert o.dtype == s.dtype and int(o.max()) <= peak
            if i == 0:  # luma: the network's output at the source's depth, to the code value
                assert np.abs(o - _network_luma(espcn_x2[0], s, peak)).max() <= 1
            else:  # chroma is bicubic (with chroma siting): within a code value or two on average
                assert np.abs(o - _bicubic(s, (o.shape[1], o.shape[0]))).mean() < 0.012 * peak


def test_hdr10_metadata_and_colour_kept(hdr10_mkv, espcn_x2, tmp_path: Path) -> None:
    from vsr.media.hdr import read_hdr10

    src = read_video(hdr10_mkv.path)
    hdr_in = read_hdr10(src.first)
    assert hdr_in is not None and hdr_in.max_cll == 1000 and hdr_in.max_fall == 400
    for name in ("out.mkv", "out.mp4"):
        dst = tmp_path / name
        upscale_video(hdr10_mkv.path, dst, loaded=espcn_x2, preset="ultrafast")  # default codec: libx265
        out = read_video(dst)
        assert (out.codec, out.pix_fmt, (out.width, out.height)) == ("hevc", "yuv420p10le", (128, 96))
        assert out.color == (1, 9, 9, 16)  # limited, BT.2020 NCL, BT.2020, PQ
        hdr_out = read_hdr10(out.first)
        assert hdr_out is not None, name
        assert (hdr_out.max_cll, hdr_out.max_fall) == (1000, 400)
        assert np.allclose(hdr_out.primaries, hdr_in.primaries, atol=1e-4)
        assert np.allclose(hdr_out.white, hdr_in.white, atol=1e-4)
        assert np.allclose(hdr_out.luminance, hdr_in.luminance, rtol=1e-4)
        assert out.times == src.times


def test_full_range_kept_without_squeezing(make_clip, espcn_x2, tmp_path: Path) -> None:
    clip = make_clip("full.mp4", pix_fmt="yuvj420p", color=FULL_RANGE, options={"crf": "0"})
    src = read_video(clip.path)
    assert src.color[0] == 2 and src.planes[0][0].min() < 16 and src.planes[0][0].max() > 235
    for name, codec in (("out.mp4", None), ("out.mkv", "ffv1")):
        dst = tmp_path / name
        upscale_video(clip.path, dst, loaded=espcn_x2, codec=codec)
        out = read_video(dst)
        assert out.color[0] == 2, name
        y = out.planes[0][0]
        assert y.min() < 16 and y.max() > 235, f"{name}: luma squeezed into video range"
        if codec == "ffv1":
            assert np.abs(y - _network_luma(espcn_x2[0], src.planes[0][0], 255)).max() <= 1


def test_odd_size(make_clip, espcn_x2, tmp_path: Path) -> None:
    clip = make_clip("odd.mkv", codec="ffv1", size=(67, 45), frames=3)
    for name, codec in (("out.mkv", "ffv1"), ("out.mp4", None)):
        dst = tmp_path / name
        stats = upscale_video(clip.path, dst, loaded=espcn_x2, codec=codec)
        out = read_video(dst)
        assert (out.width, out.height) == stats.output_size == (134, 90)
        assert [p.shape for p in out.planes[0]] == [(90, 134), (45, 67), (45, 67)]
        assert len(out.times) == 3


def test_odd_target_size(make_clip, espcn_x2, tmp_path: Path) -> None:
    """An exact odd output size: FFV1 takes it; x264 cannot, and says why in words."""
    from vsr.errors import MediaError

    clip = make_clip("odd.mkv", codec="ffv1", size=(67, 45), frames=3)
    dst = tmp_path / "out.mkv"
    stats = upscale_video(clip.path, dst, loaded=espcn_x2, codec="ffv1", size=(133, 91))
    out = read_video(dst)
    assert stats.output_size == (133, 91)
    assert [p.shape for p in out.planes[0]] == [(91, 133), (46, 67), (46, 67)]
    bad = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match="133x91 .*divisible by 2"):
        upscale_video(clip.path, bad, loaded=espcn_x2, size=(133, 91))
    assert not bad.exists() and _no_partials(tmp_path) == []


def _shipped(scale: int) -> bool:
    from vsr.models.weights import list_models

    return any(s.name == "espcn" and s.scale == scale for s in list_models())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_scales(scale: int, make_clip, tmp_path: Path) -> None:
    """Default backend path (weights loaded by upscale_video itself) at every shipped scale."""
    if not _shipped(scale):
        pytest.skip(f"no shipped espcn x{scale} weights yet")
    clip = make_clip("odd.mkv", codec="ffv1", size=(67, 45), frames=3)
    dst = tmp_path / "out.mkv"
    stats = upscale_video(clip.path, dst, scale=scale, backend="onnxruntime", codec="ffv1")
    out = read_video(dst)
    assert (out.width, out.height) == stats.output_size == (67 * scale, 45 * scale)
    h, w = 45 * scale, 67 * scale
    assert [p.shape for p in out.planes[0]] == [(h, w), (-(-h // 2), -(-w // 2)), (-(-h // 2), -(-w // 2))]
    assert stats.backend == "onnxruntime" and stats.frames == 3


def test_rotation_kept(make_clip, espcn_x2, tmp_path: Path) -> None:
    clip = make_clip("rotated.mp4", rotation=90, frames=3)
    assert read_video(clip.path).rotation == 90
    for name in ("out.mp4", "out.mkv"):
        dst = tmp_path / name
        upscale_video(clip.path, dst, loaded=espcn_x2)
        out = read_video(dst)
        assert out.rotation == 90, name
        assert (out.width, out.height) == (128, 96)  # stored as coded; players rotate


# --- interlacing ------------------------------------------------------------------------------


def test_interlaced_input_is_deinterlaced(interlaced_mkv, espcn_x2, tmp_path: Path) -> None:
    from vsr.media.decode import Decoder

    src = read_video(interlaced_mkv.path)
    assert all(src.interlaced)

    def decoded(mode: str) -> list:
        d = Decoder(interlaced_mkv.path, mode)
        try:
            return list(d)
        finally:
            d.close()

    off, auto = decoded("off"), decoded("auto")
    assert [f.pts * f.time_base for f in off] == [f.pts * f.time_base for f in auto] == src.times
    assert all(np.array_equal(f.planes[0], p[0]) for f, p in zip(off, src.planes))  # off: untouched
    assert sum(not np.array_equal(f.planes[0], p[0]) for f, p in zip(auto, src.planes)) >= len(src.planes) - 1

    dst = tmp_path / "auto.mkv"
    upscale_video(interlaced_mkv.path, dst, loaded=espcn_x2, codec="ffv1")
    out = read_video(dst)
    assert out.times == src.times and not any(out.interlaced)
    dst_off = tmp_path / "off.mkv"
    upscale_video(interlaced_mkv.path, dst_off, loaded=espcn_x2, codec="ffv1", deinterlace="off")
    out_off = read_video(dst_off)
    assert out_off.times == src.times
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(out.planes, out_off.planes))


def test_progressive_input_is_not_filtered(make_clip) -> None:
    from vsr.media.decode import Decoder

    clip = make_clip("fmt_yuv420p.mkv", codec="ffv1", pix_fmt="yuv420p", color=BT709, frames=3)
    src = read_video(clip.path)
    d = Decoder(clip.path, "auto")
    try:
        frames = list(d)
    finally:
        d.close()
    assert all(np.array_equal(a, b) for f, p in zip(frames, src.planes) for a, b in zip(f.planes, p))


# --- damaged input ----------------------------------------------------------------------------


def test_corrupt_ts_packets_are_concealed_and_reported(corrupt_ts, espcn_x2, tmp_path: Path, caplog) -> None:
    clean, damaged = corrupt_ts
    dst = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="vsr"):
        stats = upscale_video(damaged, dst, loaded=espcn_x2, codec="ffv1")
    src = read_video(damaged)
    out = read_video(dst)
    assert len(out.times) == stats.frames == len(src.times) == clean.frames
    assert stats.corrupt_frames > 0
    assert any("decoded with errors" in r.getMessage() for r in caplog.records)


def test_undecodable_packets_are_skipped_with_a_warning(gop_mp4, espcn_x2, tmp_path: Path, caplog, rng) -> None:
    """Three packets whose AVC NAL lengths are garbage: FFmpeg refuses them, the rest goes through."""
    import av

    bad_mp4 = tmp_path / "bad.mp4"
    with av.open(str(gop_mp4.path)) as i, av.open(str(bad_mp4), "w") as o:
        vs = i.streams.video[0]
        ov = o.add_stream_from_template(vs)
        n = 0
        for p in i.demux(vs):
            if p.dts is None:
                continue
            if n in (12, 13, 17):
                q = av.Packet(rng.integers(0, 256, p.size, dtype=np.uint8).tobytes())
                q.pts, q.dts, q.time_base = p.pts, p.dts, p.time_base
                p = q
            p.stream = ov
            o.mux(p)
            n += 1
    dst = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="vsr"):
        stats = upscale_video(bad_mp4, dst, loaded=espcn_x2, codec="ffv1")
    out, src = read_video(dst), read_video(gop_mp4.path)
    assert 1 <= stats.corrupt_packets <= 3
    assert 27 <= stats.frames == len(out.times) < 30
    assert set(out.times) <= set(src.times) and out.times == sorted(out.times)
    assert any("corrupt video packets were skipped" in r.getMessage() for r in caplog.records)


# --- quality ----------------------------------------------------------------------------------


def test_upscaled_luma_beats_bicubic_on_set5(shared_data: Path, espcn_x2, tmp_path: Path) -> None:
    """A 'video' of the five Set5 pictures (centre crops), downscaled x2 and stored losslessly:
    the pipeline's luma is closer to the originals than bicubic upscaling of the same luma."""
    import av

    from vsr.quality import downscale, rgb_to_y

    hr_y, lr_y = [], []
    for name in ("baby", "bird", "butterfly", "head", "woman"):
        rgb = np.asarray(Image.open(shared_data / "val" / "Set5" / f"{name}.png").convert("RGB"))
        top, left = (rgb.shape[0] - 128) // 2, (rgb.shape[1] - 160) // 2
        hr = rgb[top : top + 128, left : left + 160]
        hr_y.append(rgb_to_y(hr))
        lr_y.append(np.clip(np.rint(rgb_to_y(downscale(hr, 2))), 0, 255).astype(np.uint8))
    src = tmp_path / "set5.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 80, 64, "gray"
        for i, y in enumerate(lr_y):
            f = av.VideoFrame.from_ndarray(y, format="gray")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    dst = tmp_path / "set5_x2.mkv"
    upscale_video(src, dst, loaded=espcn_x2, codec="ffv1")
    out = read_video(dst)
    assert len(out.planes) == 5
    gains = []
    for hr, lr, planes in zip(hr_y, lr_y, out.planes):
        net = psnr(planes[0], hr, 255, border=2)
        bicubic = psnr(np.clip(_bicubic(lr, (160, 128)), 0, 255), hr, 255, border=2)
        gains.append(net - bicubic)
    assert min(gains) > 0 and np.mean(gains) > 0.5, gains


# --- pipeline mechanics -----------------------------------------------------------------------


def test_batch_and_tiles_give_the_same_pixels(gop_mp4, espcn_x2, tmp_path: Path) -> None:
    """Batches (with a short last one) and tiles are scheduling choices, never visible in the output."""
    ref = tmp_path / "ref.mkv"
    upscale_video(gop_mp4.path, ref, loaded=espcn_x2, codec="ffv1")
    base = read_video(ref)
    for name, opts in (("batch.mkv", {"batch": 4}), ("tile.mkv", {"tile": 24})):
        dst = tmp_path / name
        upscale_video(gop_mp4.path, dst, loaded=espcn_x2, codec="ffv1", **opts)
        out = read_video(dst)
        assert out.times == base.times, name
        assert all(np.array_equal(a, b) for fa, fb in zip(out.planes, base.planes) for a, b in zip(fa, fb)), name


class _FailingBackend:
    """The real backend, except that ``run`` raises on call number ``fail_at`` (from 1)."""

    def __init__(self, inner, fail_at: int) -> None:
        self.inner, self.fail_at, self.calls, self._lock = inner, fail_at, 0, threading.Lock()
        self.name, self.scale, self.device, self.dtype = inner.name, inner.scale, inner.device, inner.dtype
        self.thread_safe, self.max_size, self.cuda_graphs = inner.thread_safe, inner.max_size, inner.cuda_graphs
        self.host = inner.host

    def fork(self):
        return self

    def run(self, y):
        with self._lock:  # worker threads call at once: the count must not lose one
            self.calls += 1
            failing = self.calls >= self.fail_at
        if failing:  # the batch collected first may hold a later call than the first to fail
            raise RuntimeError(f"backend failed on call {self.fail_at} or later")
        return self.inner.run(y)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("workers", [1, 2])
def test_backend_failure_stops_every_stage_and_leaves_nothing(gop_mp4, espcn_x2, tmp_path: Path, workers: int) -> None:
    """Deterministic on any CPU: the worker count is fixed (not the machine's), and the bound on
    calls follows from the order batches are collected in, whichever worker enters ``run``
    first (the earliest-submitted batch whose call is the 6th or later is collected after at
    most ``workers`` more were submitted)."""
    net, radius = espcn_x2
    failing = _FailingBackend(net, fail_at=6)
    cancel = threading.Event()  # a caller's event (batch jobs share one): a failure must not set it
    dst = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="backend failed on call 6 or later"):
        upscale_video(gop_mp4.path, dst, loaded=LoadedBackend(failing, radius), queue_size=2, cancel=cancel,
                      workers=workers)
    # it stopped: at most the batches already submitted to the workers followed the failure
    assert 6 <= failing.calls <= 6 + workers
    assert _vsr_threads() == []
    assert not dst.exists() and _no_partials(tmp_path) == []
    assert not cancel.is_set()


def test_progress_callback_failure_is_reraised(gop_mp4, espcn_x2, tmp_path: Path) -> None:
    seen = []

    def progress(p) -> None:
        seen.append(p.frames)
        if p.frames == 3:
            raise KeyError("stop here")

    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyError, match="stop here"):
        upscale_video(gop_mp4.path, dst, loaded=espcn_x2, progress=progress)
    assert seen == [1, 2, 3] and _vsr_threads() == []
    assert not dst.exists() and _no_partials(tmp_path) == []


def test_cancel_discards_the_output(gop_mp4, espcn_x2, tmp_path: Path) -> None:
    cancel = threading.Event()
    seen = []

    def progress(p) -> None:
        seen.append(p)
        if p.frames == 2:
            cancel.set()

    dst = tmp_path / "out.mp4"
    with pytest.raises(VsrError, match="cancelled"):
        upscale_video(gop_mp4.path, dst, loaded=espcn_x2, progress=progress, cancel=cancel)
    assert 2 <= len(seen) < 30 and _vsr_threads() == []
    assert not dst.exists() and _no_partials(tmp_path) == []


def test_progress_reports_count_up_to_the_total(gop_mp4, espcn_x2, tmp_path: Path) -> None:
    seen = []
    stats = upscale_video(gop_mp4.path, tmp_path / "out.mp4", loaded=espcn_x2, progress=seen.append)
    assert [p.frames for p in seen] == list(range(1, 31)) == list(range(1, stats.frames + 1))
    assert {p.total for p in seen} == {30}
    assert seen[-1].eta == 0 and all(p.fps > 0 for p in seen)
    assert _vsr_threads() == []


def test_existing_output_refused_then_replaced_with_overwrite(vfr_mp4, espcn_x2, tmp_path: Path) -> None:
    from vsr.errors import OutputExistsError

    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        upscale_video(vfr_mp4.path, dst, loaded=espcn_x2)
    assert dst.read_bytes() == b"keep me"
    upscale_video(vfr_mp4.path, dst, loaded=espcn_x2, overwrite=True)
    assert len(read_video(dst).times) == 8 and _no_partials(tmp_path) == []


def test_unknown_option_is_a_type_error(vfr_mp4, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        upscale_video(vfr_mp4.path, tmp_path / "out.mp4", no_such_option=1)


@pytest.mark.slow
def test_real_interlaced_clip_with_ac3(shared_data: Path, espcn_x2, tmp_path: Path) -> None:
    """test1.mp4: a real MBAFF-coded 720x480 clip with AC-3 audio (21 frames, about 20 s on a busy CPU)."""
    src_path = shared_data / "video" / "test1.mp4"
    dst = tmp_path / "out.mp4"
    stats = upscale_video(src_path, dst, loaded=espcn_x2, preset="ultrafast")
    src, out = read_video(src_path), read_video(dst)
    assert all(src.interlaced) and not any(out.interlaced)
    assert stats.frames == len(out.times) == len(src.times) == 21
    assert out.times == src.times
    assert (out.width, out.height) == (1440, 960)
    assert stream_codecs(dst) == [("video", "h264"), ("audio", "ac3")]
    assert [p for _, p in packets(dst, "audio")] == [p for _, p in packets(src_path, "audio")]


def test_odd_output_from_a_scale_is_padded_for_x264(make_clip, espcn_x2, tmp_path: Path) -> None:
    """67x45 at x3 is 201x135, which 4:2:0 H.264 cannot hold: the last column and row repeat."""
    from vsr.models.weights import list_models

    if not any(s.name == "espcn" and s.scale == 3 for s in list_models()):
        pytest.skip("no shipped espcn x3 weights yet")
    clip = make_clip("odd.mkv", codec="ffv1", size=(67, 45), frames=3)
    dst = tmp_path / "out.mp4"
    stats = upscale_video(clip.path, dst, scale=3, backend="onnxruntime", crf=0)
    out = read_video(dst)
    assert (out.width, out.height) == stats.output_size == (202, 136)
    y = out.planes[0][0].astype(int)
    assert np.abs(y[:, -1] - y[:, -2]).max() <= 2 and np.abs(y[-1] - y[-2]).max() <= 2
    assert len(out.times) == 3


def test_keyword_options_land_in_the_config_and_unknown_ones_are_refused(vfr_mp4, tmp_path: Path) -> None:
    """upscale_video(..., scale=3, codec="ffv1", encoder_options={...}) is the config with those fields."""
    from vsr.config import UpscaleConfig
    from vsr.pipeline import merge_options

    cfg = merge_options(UpscaleConfig(), {"model": "fsrcnn", "scale": 3, "backend": "torch", "device": "cpu",
                                   "workers": 2, "codec": "ffv1", "encoder_options": {"level": "3"},
                                   "size": (200, 100), "overwrite": True})
    assert (cfg.model.name, cfg.model.scale, cfg.backend.name, cfg.backend.device, cfg.backend.workers) == \
        ("fsrcnn", 3, "torch", "cpu", 2)
    assert (cfg.encode.codec, cfg.encode.options, cfg.size, cfg.overwrite) == ("ffv1", (("level", "3"),),
                                                                              (200, 100), True)
    assert merge_options(cfg, {}) == cfg
    for bad in ("encode", "colour", "name"):
        with pytest.raises(TypeError, match=bad):
            upscale_video(vfr_mp4.path, tmp_path / "out.mkv", **{bad: 1})
    assert list(tmp_path.iterdir()) == []
