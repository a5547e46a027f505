"""``vsr upscale`` from the command line: one-line failures, safe outputs, progress lines, light start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from media import read_video, sha256
from vsr.cli import main

REPO = Path(__file__).resolve().parent.parent


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vsr: error: ")
    return lines[0]


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.vsr-partial-*"))


BROKEN = [
    ("text", "cannot read"),
    ("empty", "empty"),
    ("audio_only", "no video stream"),
    ("truncated", "moov"),
    ("missing", "no such file"),
    ("directory", "directory"),
]


@pytest.mark.parametrize(("kind", "says"), BROKEN, ids=[k for k, _ in BROKEN])
def test_broken_input_fails_in_one_line(kind: str, says: str, broken_inputs, tmp_path: Path, capsys) -> None:
    src = broken_inputs[kind]
    before = sha256(src) if src.is_file() else None
    dst = tmp_path / "out.mp4"
    code = main(["upscale", str(src), "-o", str(dst), "--progress", "none"])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 1
    assert says in line.lower(), line
    assert not dst.exists() and _leftovers(tmp_path) == []
    if before is not None:
        assert sha256(src) == before


@pytest.mark.parametrize("kind", ["missing", "truncated"])
def test_broken_input_in_a_real_process(kind: str, broken_inputs, tmp_path: Path) -> None:
    """The same through ``python -m vsr``: stderr holds one line, whatever FFmpeg logs."""
    dst = tmp_path / "out.mp4"
    r = subprocess.run([sys.executable, "-m", "vsr", "upscale", str(broken_inputs[kind]), "-o", str(dst)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 1
    _one_error_line(r.stderr)
    assert r.stdout == ""
    assert not dst.exists() and _leftovers(tmp_path) == []


def test_existing_output_is_refused_then_overwritten(vfr_mp4, tmp_path: Path, capsys) -> None:
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"an older result")
    code = main(["upscale", str(vfr_mp4.path), "-o", str(dst), "--progress", "none"])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and "--overwrite" in line
    assert dst.read_bytes() == b"an older result"

    src_hash = sha256(vfr_mp4.path)
    code = main(["upscale", str(vfr_mp4.path), "-o", str(dst), "--overwrite", "--progress", "none",
                 "--backend", "onnxruntime"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert len(read_video(dst).times) == 8
    assert "8 frames 64x48 -> 128x96" in captured.out
    assert sha256(vfr_mp4.path) == src_hash and _leftovers(tmp_path) == []


def test_output_that_is_the_input_is_refused(make_clip, tmp_path: Path, capsys) -> None:
    clip = make_clip("self.mp4", frames=2)
    before = sha256(clip.path)
    link = tmp_path / "link.mp4"
    link.symlink_to(clip.path)
    spelled = clip.path.parent / ".." / clip.path.parent.name / clip.path.name
    for dst in (clip.path, link, spelled):
        for extra in ([], ["--overwrite"]):
            code = main(["upscale", str(clip.path), "-o", str(dst), "--progress", "none", *extra])
            line = _one_error_line(capsys.readouterr().err)
            assert code == 2 and "is the input" in line, (dst, extra)  # a usage error
    assert sha256(clip.path) == before
    assert _leftovers(clip.path.parent) == [] and _leftovers(tmp_path) == []


def _kv(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split()[1:])


@pytest.mark.parametrize("mode", ["plain", "json"])
def test_progress_lines(mode: str, gop_mp4, tmp_path: Path, capsys) -> None:
    dst = tmp_path / "out.mkv"
    code = main(["upscale", str(gop_mp4.path), "-o", str(dst), "--progress", mode, "--backend", "onnxruntime",
                 "--codec", "ffv1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert lines, "no progress lines"
    if mode == "json":
        reports = [json.loads(x) for x in lines]
        assert all(r["event"] == "progress" and r["file"] == "gop.mp4" for r in reports)
        frames = [r["frame"] for r in reports]
        last = reports[-1]
        assert (last["total"], last["percent"], last["eta"]) == (30, 100.0, 0.0)
        assert last["fps"] > 0 and last["elapsed"] >= 0
        # speed against real time, as FFmpeg's speed=: 30 frames at 25 fps are 1.2 s of video
        assert last["speed"] == pytest.approx(last["fps"] / 25, rel=0.05, abs=0.01)
    else:
        assert all(x.startswith("progress file=gop.mp4 frame=") for x in lines)
        reports = [_kv(x) for x in lines]
        frames = [int(r["frame"]) for r in reports]
        assert (reports[-1]["total"], reports[-1]["percent"]) == ("30", "100.0")
        assert float(reports[-1]["speed"]) == pytest.approx(float(reports[-1]["fps"]) / 25, rel=0.05, abs=0.01)
    assert frames == sorted(frames) and frames[-1] == 30
    # the summary goes to stderr so stdout stays machine-readable
    summary = captured.err.strip().splitlines()
    assert len(summary) == 1 and "30 frames 96x64 -> 192x128" in summary[0]
    # the summary names the model, weight set, backend, codec, speed and the file's size
    size_kb = dst.stat().st_size / 1000
    assert summary[0].startswith(f"{dst}: espcn x2 ") and " weights, onnxruntime, ffv1; " in summary[0], summary
    assert "x realtime)" in summary[0] and summary[0].endswith(f", {size_kb:.1f} kB"), summary
    assert len(read_video(dst).times) == 30


def test_import_and_help_stay_light(tmp_path: Path) -> None:
    """``import vsr`` and ``vsr --help`` / ``vsr upscale --help`` load neither torch nor PyAV."""
    code = (
        "import sys, contextlib, io, vsr\n"
        "assert 'torch' not in sys.modules and 'av' not in sys.modules, 'import vsr'\n"
        "from vsr.cli import main\n"
        "for argv in (['--help'], ['upscale', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit as e:\n"
        "            assert e.code == 0\n"
        "    assert 'upscale' in out.getvalue()\n"
        "heavy = sorted(m for m in ('torch', 'av', 'numpy', 'onnxruntime') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "vsr", "--help"], capture_output=True, text=True, cwd=tmp_path,
                       timeout=120)
    assert r.returncode == 0 and "upscale" in r.stdout and r.stderr == ""
    r = subprocess.run([sys.executable, "-m", "vsr", "upscale", "--help"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120, env={**os.environ, "COLUMNS": "100"})
    assert r.returncode == 0 and "--overwrite" in r.stdout and "--deinterlace" in r.stdout


@pytest.mark.parametrize(("dst", "says", "exit_code"), [("out.xyz", "no container", 2),
                                                        ("blocker/out.mp4", "cannot write there", 1)])
def test_unwritable_output_fails_before_any_work(dst: str, says: str, exit_code: int, vfr_mp4, tmp_path: Path,
                                                  capsys) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    code = main(["upscale", str(vfr_mp4.path), "-o", str(tmp_path / dst), "--progress", "none"])
    line = _one_error_line(capsys.readouterr().err)
    assert code == exit_code and says in line, line
    assert _leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


@pytest.mark.parametrize("command", ["upscale", "batch"])
def test_progress_ends_at_the_true_count_once_when_the_estimate_is_off(command: str, tmp_path: Path, capsys) -> None:
    """MPEG-TS has no frame count: 8 frames with a gap estimate as 13 from the duration. The
    last progress line still says 8 of 8, 100 %, and is written once."""
    from media import write_video

    src = write_video(tmp_path / "gap.ts", pts=[0, 1, 2, 3, 4, 5, 6, 12]).path
    out = ["-o", str(tmp_path / "out.mkv")] if command == "upscale" else ["-d", str(tmp_path / "out")]
    assert main([command, str(src), *out, "--codec", "ffv1", "--progress", "json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    progress = [x for x in lines if x["event"] == "progress"]
    assert progress[-1]["frame"] == progress[-1]["total"] == 8 and progress[-1]["percent"] == 100.0
    assert len(progress) == len({json.dumps(x, sort_keys=True) for x in progress})  # no line twice
    assert all(x["frame"] <= 8 for x in progress)
