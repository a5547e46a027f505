"""Real-world containers and streams through ``vsr upscale``: DVD program streams, ASF/WMV,
3GP, AV1-in-MP4, VP9/Opus WebM, DV; several audio tracks with languages and dispositions;
bitmap subtitles (DVD, DVB, PGS); streams that start late or early.

Each test writes a tiny file with PyAV (tests/media_containers.py), runs the CLI, and reads
the output with PyAV: frames, size, display aspect, timestamps, and which streams came out
with which codec, language and disposition.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media import read_video
from media_containers import (Sub, Track, bitmap_rects, first_times, stream_table, write_media)

VSR = [sys.executable, "-m", "vsr", "upscale", "--progress", "none"]
D = av.stream.Disposition


def upscale(src: Path, dst: Path) -> str:
    """Run the CLI (scale 2); returns its stderr, asserting success."""
    r = subprocess.run(VSR + [str(src), "-o", str(dst)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stderr


def check_video(src: Path, dst: Path) -> None:
    """Every frame at twice the size, the same timestamps, the same display aspect.

    An MPEG-TS output starting near 0 moves later, with every stream, by the encoder's frame
    reordering delay (its first decode time would be negative, which MPEG-TS cannot hold)."""
    a, b = read_video(src), read_video(dst)
    assert (b.width, b.height) == (2 * a.width, 2 * a.height)
    assert len(b.times) == len(a.times)
    shift = b.times[0] - a.times[0] if dst.suffix == ".ts" else 0
    assert 0 <= shift <= Fraction(3, 25)  # x264's default 3 B-frames at 25 fps at most
    assert max(abs(y - x - shift) for x, y in zip(a.times, b.times)) <= Fraction(1, 1000)  # ms time bases
    assert display_aspect(dst) == display_aspect(src)


def display_aspect(path: Path) -> Fraction:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        sar = s.sample_aspect_ratio or s.codec_context.sample_aspect_ratio or Fraction(1)
        return Fraction(sar) * Fraction(s.codec_context.width, s.codec_context.height)


def audio_span(path: Path, index: int = 0) -> tuple[Fraction, Fraction, int]:
    """``(first decoded sample's time, seconds decoded, channels)`` of audio stream ``index``."""
    first, seconds, channels, _ = _audio(path, index)
    return first, seconds, channels


def audio_rms(path: Path, index: int = 0) -> float:
    """Root mean square of the decoded samples (the test tone's is 0.2 / sqrt(2))."""
    return _audio(path, index)[3]


def _audio(path: Path, index: int) -> tuple[Fraction, Fraction, int, float]:
    with av.open(str(path)) as c:
        s = c.streams.audio[index]
        first, samples, energy = None, 0, 0.0
        for f in c.decode(s):
            if first is None:
                first = Fraction(f.pts) * f.time_base
            x = f.to_ndarray().astype(np.float64)
            if f.format.name.startswith("s16"):
                x /= 32768
            energy += float(np.sum(x * x)) / len(f.layout.channels)
            samples += f.samples
        rate = s.codec_context.sample_rate
        return first, Fraction(samples, rate), s.codec_context.channels, (energy / max(samples, 1)) ** 0.5


def kinds(path: Path) -> list[tuple[str, str]]:
    return [(t, c) for t, c, _, _ in stream_table(path)]


# --- DVD -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vob(tmp_path_factory) -> Path:
    """A DVD program stream: navigation packets, interlaced anamorphic MPEG-2 (16:9 display
    from 64x48), AC-3 and LPCM stereo, one DVD subtitle (the PS muxer packs several cues into
    one PES, which FFmpeg's own demuxer then cannot split, so one cue)."""
    path = tmp_path_factory.mktemp("dvd") / "VTS_01_1.VOB"
    write_media(path, format="dvd", codec="mpeg2video", sar=Fraction(32, 27), frames=6,
                options={"flags": "+ildct+ilme"},
                audio=[Track("ac3", layout="stereo"), Track("pcm_dvd", layout="stereo")],
                subs=[Sub("dvd_subtitle", cues=((0, 100),))])
    return path


@pytest.mark.parametrize("suffix", ["mkv", "mp4", "ts"])
def test_dvd_program_stream(vob: Path, tmp_path: Path, suffix: str) -> None:
    assert kinds(vob) == [("data", ""), ("video", "mpeg2video"), ("audio", "ac3"), ("audio", "pcm_dvd"),
                          ("subtitle", "dvdsub")]
    assert display_aspect(vob) == Fraction(16, 9)
    assert all(read_video(vob).interlaced)
    dst = tmp_path / f"out.{suffix}"
    err = upscale(vob, dst)
    check_video(vob, dst)  # deinterlaced (bwdif), one frame per frame, same times and aspect
    # no container here holds DVD LPCM: re-encoded (it would be lost otherwise)
    assert "(audio pcm_dvd) re-encoded to aac" in err
    audio = [("audio", "ac3"), ("audio", "aac")]
    if suffix == "ts":  # MPEG-TS has no DVD subtitle stream type: dropped, and said so
        assert kinds(dst) == [("video", "h264"), *audio]
        assert "dvdsub) dropped" in err
    else:  # Matroska and MP4 (as MPEG-4 'mp4s') hold DVD subtitles: copied byte for byte
        assert kinds(dst) == [("video", "h264"), *audio, ("subtitle", "dvdsub")]
        assert bitmap_rects(dst, 3) == bitmap_rects(vob, 4) == [(32, 12)]
    assert "navigation" not in err  # the nav packets go quietly (info level)
    assert audio_rms(dst, 1) == pytest.approx(audio_rms(vob, 1), rel=0.15)
    t0, t1 = first_times(vob), first_times(dst)  # the PS muxer's 0.5 s start is kept, in sync
    assert abs(t1["video"] - t0["video"]) <= Fraction(1, 1000)
    assert abs(t1["audio"] - t0["audio"]) <= Fraction(1, 1000)


# --- ASF, 3GP, AV1, WebM, DV -----------------------------------------------------------------

# name -> (file, write_media options, output suffix, audio codec out, re-encoded)
FORMATS = {
    "asf_wmv": ("clip.wmv", dict(codec="wmv2", audio=[Track("wmav2", "eng", layout="stereo", rate=44100)]),
                "mkv", "aac", True),
    "3gp_h263_aac": ("clip.3gp", dict(codec="h263", size=(128, 96), audio=[Track("aac", "eng")]),
                     "3gp", "aac", False),
    "3gp_h263_amr_kept": ("amr.3gp", dict(codec="h263", size=(128, 96),
                                          audio=[Track("libopencore_amrnb", "eng", rate=8000)]), "3gp", "amrnb", False),
    "3gp_h263_amr_to_mp4": ("amr.3gp", dict(codec="h263", size=(128, 96),
                                            audio=[Track("libopencore_amrnb", "eng", rate=8000)]), "mp4", "aac", True),
    "av1_mp4": ("av1.mp4", dict(codec="libsvtav1", size=(64, 64), audio=[Track("aac", "eng")]), "mp4", "aac", False),
    "vp9_opus_webm": ("clip.webm", dict(codec="libvpx-vp9", audio=[Track("libopus", "eng", layout="stereo")]),
                      "webm", "opus", False),
    "mkv_aac_to_webm": ("aac.mkv", dict(audio=[Track("aac", "fra")]), "webm", "opus", True),
    # MP4 holds PCM only as ISO 'ipcm' (few players read it; FFmpeg fails on Matroska's unordered channels)
    "mkv_pcm_to_mp4": ("pcm.mkv", dict(audio=[Track("pcm_s16le", "eng", layout="stereo")]), "mp4", "aac", True),
    # the MOV muxer takes FLAC and Opus streams, then refuses them at the header ("only supported in MP4")
    "mkv_flac_to_mov": ("flac.mkv", dict(audio=[Track("flac", "eng", layout="stereo")]), "mov", "aac", True),
    "mkv_opus_to_mov": ("opus.mkv", dict(audio=[Track("libopus", "eng", layout="stereo")]), "mov", "aac", True),
    "mkv_flac_to_mp4": ("flac.mkv", dict(audio=[Track("flac", "eng", layout="stereo")]), "mp4", "flac", False),
    "dv_pal": ("clip.dv", dict(codec="dvvideo", size=(720, 576), frames=2,
                               audio=[Track("pcm_s16le", layout="stereo")]), "mkv", "pcm_s16le", False),
    "dv_ntsc_411_avi": ("clip.avi", dict(codec="dvvideo", size=(720, 480), frames=2, pix_fmt="yuv411p",
                                         rate=Fraction(30000, 1001)), "mp4", None, False),
}


@pytest.mark.parametrize("case", list(FORMATS))
def test_container_formats(case: str, tmp_path: Path) -> None:
    name, spec, suffix, audio_out, reencoded = FORMATS[case]
    for codec in [spec.get("codec", "libx264")] + [t.codec for t in spec.get("audio", [])]:
        if codec not in av.codecs_available:
            pytest.skip(f"this FFmpeg build has no {codec} encoder to make the input")
    src = tmp_path / name
    write_media(src, **spec)
    dst = tmp_path / f"out.{suffix}"
    err = upscale(src, dst)
    check_video(src, dst)
    table = stream_table(dst)
    assert table[0][:2] == ("video", "libdav1d" if suffix == "webm" else "h264")
    if audio_out is None:
        assert [t for t, *_ in table] == ["video"]
        return
    assert [(t, c) for t, c, _, _ in table[1:]] == [("audio", audio_out)]
    assert ("re-encoded to" in err) == reencoded
    if spec["audio"][0].language:
        assert table[1][2] == spec["audio"][0].language
    (s0, n0, c0), (s1, n1, c1) = audio_span(src), audio_span(dst)
    assert c1 == c0
    # the sound starts when it started (an encoder's priming is signalled, not played; a re-encoded
    # track's first packet carries its new encoder's priming, up to 1024 samples, for the old one's)
    assert abs(s1 - s0) <= Fraction(1, 100) + (Fraction(1024, 48000) if reencoded else 0)
    assert abs(n1 - n0) <= Fraction(3, 10) if reencoded else n1 == n0
    assert audio_rms(dst) == pytest.approx(audio_rms(src), rel=0.15)  # the same tone, not silence


def test_real_vp9_opus_webm_keeps_six_channels(shared_data: Path, tmp_path: Path) -> None:
    """The shipped 480p VP9 + 5.1 Opus clip, cut to its first 5 frames by stream copy."""
    full = shared_data / "video" / "bbb_480p_vp9_opus_1second.webm"
    src = tmp_path / "bbb_cut.webm"
    with av.open(str(full)) as i, av.open(str(src), "w") as o:
        v, a = i.streams.video[0], i.streams.audio[0]
        out = {v.index: o.add_stream_from_template(v), a.index: o.add_stream_from_template(a)}
        frames = 0
        for p in i.demux(v, a):
            if p.dts is None or (p.stream is v and frames == 5):
                continue
            if p.stream is a and p.pts * p.time_base > Fraction(5, 24):
                continue
            frames += p.stream is v
            p.stream = out[p.stream.index]
            o.mux(p)
    assert audio_span(src)[2] == 6
    dst = tmp_path / "bbb.mkv"
    upscale(src, dst)
    check_video(src, dst)
    assert kinds(dst) == [("video", "h264"), ("audio", "opus")]
    assert audio_span(dst) == audio_span(src)  # copied: same start, length, 6 channels


# --- several audio tracks --------------------------------------------------------------------

TRACKS = [Track("aac", "eng", ("default",), "Main"), Track("ac3", "fra", ("dub",), layout="stereo"),
          Track("aac", "deu", ("comment", "hearing_impaired"), "Commentary"), Track("aac", "spa", ("forced",))]


@pytest.mark.parametrize("suffix", ["mkv", "mp4"])
def test_audio_tracks_keep_order_languages_and_dispositions(tmp_path: Path, suffix: str) -> None:
    src = write_media(tmp_path / "multi.mkv", audio=TRACKS).path
    dst = tmp_path / f"out.{suffix}"
    upscale(src, dst)
    check_video(src, dst)
    a, b = stream_table(src)[1:], stream_table(dst)[1:]
    assert [(t, c, lang) for t, c, lang, _ in b] == [(t, c, lang) for t, c, lang, _ in a] == [
        ("audio", "aac", "eng"), ("audio", "ac3", "fra"), ("audio", "aac", "deu"), ("audio", "aac", "spa")]
    for (_, _, _, d0), (_, _, _, d1) in zip(a, b):
        # Matroska stores each flag; MP4 stores them as 'kind' boxes and reads hearing-impaired back
        # with 'captions' added
        assert d1 == d0 if suffix == "mkv" else d1 & d0 == d0
    if suffix == "mkv":
        with av.open(str(dst)) as c:
            assert [s.metadata.get("title") for s in c.streams.audio] == ["Main", None, "Commentary", None]


# --- bitmap subtitles ------------------------------------------------------------------------

SUBS = [Sub("dvd_subtitle", "eng", ("default",)), Sub("dvb_subtitle", "fra", ("forced",)),
        Sub("hdmv_pgs_subtitle", "deu")]
# output suffix -> the subtitle codecs it keeps (the rest dropped with a warning)
KEPT = {"mkv": ["dvdsub", "dvbsub", "pgssub"], "mp4": ["dvdsub"], "ts": ["dvbsub"]}


@pytest.mark.parametrize("suffix", list(KEPT))
def test_bitmap_subtitles_copied_or_dropped_with_a_warning(tmp_path: Path, suffix: str) -> None:
    written = write_media(tmp_path / "subs.mkv", audio=[Track("aac", "eng", ("default",))], subs=SUBS)
    src = written.path
    assert [bitmap_rects(src, i) for i in (2, 3, 4)] == [[(32, 12)] * 2] * 3  # FFmpeg decodes all three
    dst = tmp_path / f"out.{suffix}"
    err = upscale(src, dst)
    check_video(src, dst)
    out = [(c, lang) for t, c, lang, _ in stream_table(dst) if t == "subtitle"]
    langs = {"dvdsub": "eng", "dvbsub": "fra", "pgssub": "deu"}
    assert out == [(c, langs[c]) for c in KEPT[suffix]]
    for codec in ["dvdsub", "dvbsub", "pgssub"]:
        assert (f"subtitle {codec}) dropped" in err) == (codec not in KEPT[suffix])
    assert not [t for t, *_ in stream_table(dst) if t == "data"]  # never as unreadable private data
    for index, (kind, codec, _, _) in enumerate(stream_table(dst)):
        if kind != "subtitle":
            continue
        if suffix != "ts":  # MPEG-TS frames DVB packets in its own PES bytes
            with av.open(str(dst)) as c:
                payloads = [bytes(p) for p in c.demux(c.streams[index]) if p.size]
            assert payloads == written.sub_payloads[["dvdsub", "dvbsub", "pgssub"].index(codec)]
        assert bitmap_rects(dst, index) == [(32, 12)] * 2


# --- start times and edit lists --------------------------------------------------------------

# name -> (file, write_media options, output suffix, start kept exactly)
STARTS = {
    "mp4_streams_at_2s_to_mkv": ("late.mp4", dict(start=2.0, audio=[Track("aac", "eng")]), "mkv", True),
    "mkv_streams_at_2s_to_mp4": ("late.mkv", dict(start=2.0, audio=[Track("aac", "eng")]), "mp4", True),
    "mp4_bframes_edit_list_to_mp4": ("bf.mp4", dict(frames=8, options={"bf": "2"}, audio=[Track("aac", "eng")]),
                                     "mp4", True),
    "mp4_audio_half_second_early": ("early.mp4", dict(start=1.0, audio=[Track("aac", "eng", start=-0.5)]),
                                    "mkv", True),
    "mkv_audio_half_second_late": ("lateaudio.mkv", dict(audio=[Track("aac", "eng", start=0.5)]), "mp4", True),
    # AAC priming before 0 in MP4 (edit list); Matroska cannot start before 0 without the codec
    # delay, which FFmpeg's MP4 demuxer does not report: every stream moves 1024 samples later
    "mp4_aac_priming_to_mkv": ("prime.mp4", dict(audio=[Track("aac", "eng")]), "mkv", False),
}


@pytest.mark.parametrize("case", list(STARTS))
def test_start_times_and_sync_kept(case: str, tmp_path: Path) -> None:
    name, spec, suffix, exact = STARTS[case]
    src = tmp_path / name
    write_media(src, **spec)
    dst = tmp_path / f"out.{suffix}"
    if src.suffix == ".mp4":  # x264's B-frame delay (and a late start) written as an MP4 edit list
        assert b"elst" in src.read_bytes() and b"ctts" in src.read_bytes()
    upscale(src, dst)
    a, b = read_video(src), read_video(dst)
    assert len(b.times) == len(a.times)
    t0, t1 = first_times(src), first_times(dst)
    ms = Fraction(1, 1000)
    # in sync: the video starts the same time after the audio as in the input
    assert abs((t1["video"] - t1["audio"]) - (t0["video"] - t0["audio"])) <= ms
    shift = t1["video"] - t0["video"]
    assert max(abs(y - x - shift) for x, y in zip(a.times, b.times)) <= ms  # frame spacing kept
    if exact:
        assert abs(shift) <= ms
        assert abs(t1["audio"] - t0["audio"]) <= ms
    else:
        assert 0 < shift <= Fraction(1024, 48000) + ms
