"""Messages a person can act on: every failure of the CLI is one line saying what happened and
what to do, with no Python class name, errno, return code, dict or hidden partial file name;
argparse errors are one line plus a hint (exit 2); numeric options are range-checked."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from media import write_clip, write_text, write_truncated, write_video
from vsr.cli import main
from vsr.cli.args import check_crf

VSR = [sys.executable, "-m", "vsr"]


def _line(err: str) -> str:
    """The one line of ``err``, checked for what a user should never see."""
    assert "Traceback" not in err and "usage:" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b", line), line  # no Python class name
    for never in ("Errno", "returned", "avcodec_open2", "{", ".vsr-partial"):
        assert never not in line, line
    return line


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("msg") / "in.mkv", 64, 48, frames=2)


def _usage(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    return _line(capsys.readouterr().err)


# --- argparse: one line plus a hint ---------------------------------------------------------


@pytest.mark.parametrize("args, want", [
    (["--scale", "5"], "vsr upscale: error: --scale: 5 is not one of 2, 3, 4 (see vsr upscale --help)"),
    (["--crf", "abc"], "vsr upscale: error: --crf: expected a whole number of 0 or more, got 'abc' "
                       "(see vsr upscale --help)"),
    (["--bogus"], "vsr upscale: error: unrecognized arguments: --bogus (see vsr upscale --help)"),
    (["--backend", "pytorch"], "vsr upscale: error: --backend: 'pytorch' is not one of auto, onnxruntime, openvino, "
                               "tensorrt, torch (see vsr upscale --help)"),
    (["--device", "tpu"], "vsr upscale: error: --device: 'tpu' is not a device; use auto, cpu, cuda or cuda:N "
                          "(see vsr upscale --help)"),
    (["--progress", "fancy"], "vsr upscale: error: --progress: 'fancy' is not one of auto, none, bar, plain, json "
                              "(see vsr upscale --help)"),
])
def test_argparse_errors_are_one_line_with_a_hint(args, want, clip, tmp_path, capsys) -> None:
    assert _usage(capsys, ["upscale", str(clip), "-o", str(tmp_path / "o.mkv"), *args]) == want


def test_output_is_a_usage_error(clip, tmp_path, capsys) -> None:
    for dst, says in ((clip, "output is the input file; choose another output name"),
                      (tmp_path / "o.xyz", "FFmpeg knows no container for the suffix '.xyz'"),
                      (tmp_path, "is a directory; give an output file name")):
        assert main(["upscale", str(clip), "-o", str(dst)]) == 2
        assert says in _line(capsys.readouterr().err)
    assert _usage(capsys, ["image", str(clip), "-o", str(tmp_path / "o.png"), "--scale", "5"]) == \
        "vsr image: error: --scale: 5 is not one of 2, 3, 4 (see vsr image --help)"


def test_missing_arguments_one_line(capsys) -> None:
    assert _usage(capsys, ["upscale"]) == \
        "vsr upscale: error: the following arguments are required: input, -o/--output (see vsr upscale --help)"
    assert _usage(capsys, []).endswith("(see vsr --help)")
    assert _usage(capsys, ["engine", "list", "--nope"]) == \
        "vsr engine list: error: unrecognized arguments: --nope (see vsr engine list --help)"


# --- numeric ranges -------------------------------------------------------------------------


@pytest.mark.parametrize("args, says", [
    (["--workers", "-1"], "--workers: expected a whole number of 0 or more, got '-1'"),
    (["--threads", "-2"], "--threads: expected a whole number of 0 or more"),
    (["--tile", "0"], "--tile: expected a positive whole number"),
    (["--batch", "0"], "--batch: expected a positive whole number"),
    (["--timeout", "0"], "--timeout: expected a positive number of seconds"),
    (["--timeout", "inf"], "--timeout: expected a positive number of seconds"),
    (["--crf", "-1"], "--crf: expected a whole number of 0 or more"),
    (["--max-size", "0x0"], "--max-size: expected WIDTHxHEIGHT"),
])
def test_numbers_out_of_range_are_usage_errors(args, says, clip, tmp_path, capsys) -> None:
    assert says in _usage(capsys, ["upscale", str(clip), "-o", str(tmp_path / "o.mkv"), *args])
    assert not (tmp_path / "o.mkv").exists()


@pytest.mark.parametrize("args, says", [
    (["--ray-max-retries", "-2"], "--ray-max-retries: expected a whole number of -1 or more"),
    (["--ray-cpus-per-task", "-1"], "--ray-cpus-per-task: expected a number of 0 or more"),
    (["--ray-gpus-per-task", "nan"], "--ray-gpus-per-task: expected a number of 0 or more"),
    (["-j", "0"], "-j/--jobs: expected a positive whole number"),
])
def test_batch_numbers_out_of_range(args, says, clip, tmp_path, capsys) -> None:
    assert says in _usage(capsys, ["batch", str(clip), "-d", str(tmp_path / "out"), *args])


@pytest.mark.parametrize("args, says", [
    (["--crf", "99"], "--crf 99: out of range; the default encoders take 0 to 51 (libx264, libx265) or 0 to 63 "
                      "(libsvtav1 for WebM); lower is better quality"),
    (["--codec", "libx265", "--crf", "52"], "--crf 52: out of range; libx265 takes 0 to 51 (lower is better quality)"),
    (["--codec", "libsvtav1", "--crf", "64"], "--crf 64: out of range; libsvtav1 takes 0 to 63 (lower is better "
                                              "quality)"),
])
def test_crf_is_checked_per_encoder(args, says, clip, tmp_path, capsys) -> None:
    for command in (["upscale", str(clip), "-o", str(tmp_path / "o.mkv")], ["batch", str(clip), "-d",
                                                                            str(tmp_path / "out")]):
        assert main([*command, *args]) == 2
        assert _line(capsys.readouterr().err) == f"vsr: error: {says}"
    assert list(tmp_path.iterdir()) == []


def test_crf_of_the_encoder_the_source_picks(clip, tmp_path, capsys) -> None:
    """Without --codec the encoder is known once the source is: an 8-bit clip gets libx264 (0-51)."""
    assert main(["upscale", str(clip), "-o", str(tmp_path / "o.mkv"), "--crf", "55", "--progress", "none"]) == 2
    assert _line(capsys.readouterr().err) == \
        "vsr: error: --crf 55: out of range; libx264 takes 0 to 51 (lower is better quality)"
    assert list(tmp_path.iterdir()) == []


def test_crf_ranges() -> None:
    assert check_crf(51, None) is None and check_crf(0, "libx264") is None
    assert check_crf(63, None) is None  # libsvtav1 for WebM takes it; libx264 refuses it when it opens
    assert check_crf(63, "libsvtav1") is None and check_crf(63, "libvpx-vp9") is None
    assert check_crf(52, "hevc_nvenc") is not None
    assert check_crf(500, "some_encoder_vsr_does_not_list") is None  # that encoder checks it itself


# --- encoder settings -----------------------------------------------------------------------


def test_unknown_pixel_format(clip, tmp_path, capsys) -> None:
    line = _usage(capsys, ["upscale", str(clip), "-o", str(tmp_path / "o.mkv"), "--pix-fmt", "yuv999"])
    assert line.startswith("vsr upscale: error: --pix-fmt: 'yuv999' is not a pixel format FFmpeg knows; "
                           "common ones: yuv420p, yuv420p10le")


def test_pixel_format_the_encoder_cannot_write(clip, tmp_path, capsys) -> None:
    assert main(["upscale", str(clip), "-o", str(tmp_path / "o.mkv"), "--pix-fmt", "rgb24", "--progress",
                 "none"]) == 2
    line = _line(capsys.readouterr().err)
    assert line.startswith("vsr: error: --pix-fmt rgb24: libx264 cannot write it; it takes yuv420p, ")
    assert "yuv444p10le" in line
    assert list(tmp_path.iterdir()) == []


def test_bad_preset(clip, tmp_path, capsys) -> None:
    assert main(["upscale", str(clip), "-o", str(tmp_path / "o.mkv"), "--preset", "nope", "--progress",
                 "none"]) == 2
    assert _line(capsys.readouterr().err) == (
        "vsr: error: --preset nope: libx264 has no such preset; use one of ultrafast, superfast, veryfast, "
        "faster, fast, medium, slow, slower, veryslow, placebo")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, says", [
    (["--codec", "nope"], "--codec nope: this FFmpeg has no such encoder; e.g. libx264, libx265"),
    (["--codec", "libx265", "--pix-fmt", "rgb24"], "--pix-fmt rgb24: libx265 cannot write it; it takes yuv420p, "),
    (["--codec", "libx265", "--preset", "bad"], "--preset bad: libx265 has no such preset; use one of ultrafast, "),
])
def test_batch_refuses_encoder_settings_before_any_file(args, says, clip, tmp_path, capsys) -> None:
    """A setting no file can be encoded with is one usage error, not one failure per file."""
    assert main(["batch", str(clip), "-d", str(tmp_path / "out"), *args]) == 2
    assert _line(capsys.readouterr().err).startswith(f"vsr: error: {says}")
    assert list(tmp_path.iterdir()) == []


def test_encoder_refusing_an_option_value(clip, tmp_path, capsys) -> None:
    assert main(["upscale", str(clip), "-o", str(tmp_path / "o.mkv"), "-e", "crf=abc", "--progress", "none"]) == 1
    line = _line(capsys.readouterr().err)
    assert line.startswith("vsr: error: ") and "libx264" in line and "crf=abc" in line
    assert list(tmp_path.iterdir()) == []


# --- a full disk, a file size limit: the destination is named, nothing is left -------------


def _big_clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "src" / "big.mkv", 128, 96, frames=12)


def test_file_size_limit_names_the_destination(tmp_path) -> None:
    """RLIMIT_FSIZE (the shell's ``ulimit -f``) makes writes fail past a size, as a full disk does,
    without root: the output (ffv1, ~50 KiB a frame) cannot fit in 64 KiB."""
    src = _big_clip(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "out.mkv"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    for extra, named in (([], f"{dst}"), (["--segments", "1"], f"{dst} (segment 0, in its work folder beside it)")):
        r = subprocess.run(VSR + ["upscale", str(src), "-o", str(dst), "--codec", "ffv1", "--progress", "none", *extra],
                           capture_output=True, text=True, timeout=300, preexec_fn=limit)
        assert r.returncode == 1, r.stderr
        assert _line(r.stderr) == (f"vsr: error: {named}: the file grew beyond the largest size this process may "
                                   "write (the shell's 'ulimit -f' or the file system's limit); raise the limit or "
                                   "write to another file system")  # not the part's name in the hidden work folder
        assert list(out.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_full_disk_on_standard_output(tmp_path) -> None:
    """/dev/full answers every write with 'no space left on device' (ENOSPC)."""
    src = _big_clip(tmp_path)
    with open("/dev/full", "wb") as full:
        r = subprocess.run(VSR + ["upscale", str(src), "-o", "-", "--format", "matroska", "--codec", "ffv1"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert _line(r.stderr) == ("vsr: error: standard output: the disk is full; free some space there or write the "
                               "output to another disk")


# --- backends, images -----------------------------------------------------------------------


def test_tensorrt_without_a_gpu_says_it_needs_one(clip, tmp_path, capsys) -> None:
    from vsr.devices import nvidia_driver_present

    if nvidia_driver_present():
        pytest.skip("this machine has an NVIDIA GPU")
    for device in ("auto", "cuda"):
        assert main(["upscale", str(clip), "-o", str(tmp_path / "o.mkv"), "--backend", "tensorrt", "--device",
                     device]) == 1
        line = _line(capsys.readouterr().err)
        assert "needs an NVIDIA GPU, and this machine has none" in line and "PyTorch" not in line
    assert main(["engine", "build"]) == 1
    assert "needs an NVIDIA GPU" in _line(capsys.readouterr().err)


def test_image_in_an_unsupported_format_is_a_usage_error(tmp_path, capsys) -> None:
    from PIL import Image, features

    if not features.check("webp"):
        pytest.skip("this Pillow cannot write WebP")
    Image.new("RGB", (8, 8)).save(tmp_path / "x.webp")
    assert main(["image", str(tmp_path / "x.webp"), "-o", str(tmp_path / "y.png")]) == 2
    assert _line(capsys.readouterr().err) == \
        f"vsr: error: {tmp_path / 'x.webp'}: a WEBP image; vsr image reads PNG and JPEG only: convert it to .png first"
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    assert main(["image", str(tmp_path / "x.png"), "-o", str(tmp_path / "y.webp")]) == 2
    assert "PNG and JPEG only; name the output .png, .jpg or .jpeg" in _line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png", "x.webp"]


# --- errors vsr did not foresee -------------------------------------------------------------


@pytest.mark.parametrize("error, want", [
    (lambda av: av.error.InvalidDataError(1094995529, "Invalid data found when processing input",
                                          "/v/.out.mkv.vsr-partial-123"),
     "/v/out.mkv: Invalid data found when processing input (from FFmpeg); run with -v to see FFmpeg's own "
     "messages, and please report it if other players read this input"),
    (lambda av: av.error.ArgumentError(22, "Invalid argument", "pipe:1"),  # the AVI case, to stdout
     "standard output: Invalid argument (from FFmpeg); run with -v to see FFmpeg's own messages, and please "
     "report it if other players read this input"),
    (lambda av: OSError(28, "No space left on device", "/v/.rep.json.77-0123abcd.tmp"),
     "/v/rep.json: the disk is full; free some space there or write the output to another disk"),
    (lambda av: BrokenPipeError(32, "Broken pipe"),  # vsr segments plan ... | head -c 100
     "standard output: the reading side went away before the output was complete"),
    (lambda av: ZeroDivisionError("division by zero"),
     "unexpected failure (division by zero); this is a bug in vsr or a library: run with -v for details and "
     "please report it"),
])
def test_unforeseen_errors_read_as_one_line(error, want) -> None:
    """The CLI's last resort, on the library's own exception objects: no class name, errno or
    hidden file name."""
    import av

    from vsr.cli import _public, _unexpected

    line = _public(_unexpected(error(av), "upscale"))
    assert line == want
    _line(line)


def test_hidden_names_in_messages_become_destinations() -> None:
    from vsr.output import partial_path, public_name, public_text

    dst = Path("/media/out dir/film.mkv")
    assert public_name(partial_path(dst)) == str(dst)
    assert public_text(f"Invalid argument: '{partial_path(Path('/m/a.mp4'))}' returned 22") == \
        "Invalid argument: '/m/a.mp4' returned 22"
    assert public_text("keep .x.vsr-partial-12abc and a.b.c") == "keep .x.vsr-partial-12abc and a.b.c"


# --- inputs that do not read: what happened, then what to do --------------------------------


def _cut_in_its_data(src: Path, dst: Path) -> Path:
    """``src`` remuxed with its index first (``-movflags +faststart``), then cut just after the
    index: it opens, but no frame's data is there."""
    import av

    full = dst.with_name("faststart.mp4")
    with av.open(str(src)) as i, av.open(str(full), "w", options={"movflags": "faststart"}) as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for packet in i.demux(i.streams.video[0]):
            if packet.dts is not None:
                packet.stream = s
                o.mux(packet)
    data = full.read_bytes()
    dst.write_bytes(data[: data.index(b"mdat") + 16])
    return dst


def test_unreadable_inputs_say_what_to_do(tmp_path, capsys) -> None:
    """Every way an input fails to read, whole, in segments or probed for --target, says what
    happened and ends in advice: check that it plays, copy it again."""
    clip = write_clip(tmp_path / "ok.mp4", 64, 48, frames=3)
    check = "check that it is a video and plays in a player; if it does not, it is damaged or incomplete: copy it again"
    for src, happened in ((write_text(tmp_path / "text.mp4"), "cannot read as video (Invalid data found when "
                                                              "processing input); " + check),
                          (write_truncated(tmp_path / "cut.mp4"), "the file is truncated or still being written); "
                                                                  "wait until it is complete, or copy it again"),
                          (_cut_in_its_data(clip, tmp_path / "nodata.mp4"), check)):
        for extra in ([], ["--segments", "2"], ["--target", "1080p"]):
            assert main(["upscale", str(src), "-o", str(tmp_path / "o.mkv"), "--progress", "none", *extra]) == 1
            line = _line(capsys.readouterr().err)
            assert line.endswith(happened) and "range" not in line, (extra, line)
            assert not (tmp_path / "o.mkv").exists() and not list(tmp_path.glob(".o.mkv*"))  # no work folder either


def test_an_mp4_with_its_index_last_on_stdin_says_what_to_pipe(tmp_path) -> None:
    """A pipe cannot seek back to an MP4's data once its index, written last, is read."""
    clip = tmp_path / "in.mp4"  # 240 kB: its data far beyond what FFmpeg's read buffer can seek back over
    write_video(clip, size=(640, 480), frames=12, options={"preset": "ultrafast", "crf": "0"})
    assert clip.stat().st_size > 200_000 and clip.read_bytes().rfind(b"moov") > clip.stat().st_size // 2
    r = subprocess.run(VSR + ["upscale", "-", "-o", str(tmp_path / "o.mkv"), "--progress", "none"],
                       input=clip.read_bytes(), capture_output=True, timeout=300)
    line = _line(r.stderr.decode())
    assert r.returncode == 1 and line.startswith("vsr: error: stdin: "), line
    assert line.endswith("pipe MKV, MPEG-TS or NUT (MP4 only with its index first, -movflags +faststart), or give "
                         "the file's name instead of -"), line
    assert not (tmp_path / "o.mkv").exists()
