"""``-`` as input (stdin) and ``-o -`` with ``--format`` (stdout), through real process pipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from media import read_video, write_video

VSR = [sys.executable, "-m", "vsr"]


@pytest.fixture(scope="module")
def ts_clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("stdio") / "clip.ts", frames=8, container_format="mpegts")


def _times_from_zero(times):
    return [t - times[0] for t in times]


def test_stdin_to_stdout_keeps_every_frame_and_timestamp(ts_clip, tmp_path: Path) -> None:
    data = ts_clip.path.read_bytes()
    r = subprocess.run(VSR + ["upscale", "-", "-o", "-", "--format", "matroska", "--progress", "plain"],
                       input=data, capture_output=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    assert b"progress" in r.stderr  # progress lines went to stderr, stdout holds only the stream
    out = tmp_path / "piped.mkv"
    out.write_bytes(r.stdout)
    info = read_video(out)
    src = read_video(ts_clip.path)
    assert (info.width, info.height) == (2 * src.width, 2 * src.height)
    assert len(info.times) == ts_clip.frames
    assert _times_from_zero(info.times) == pytest.approx(_times_from_zero(src.times), abs=1e-3)
    assert list(tmp_path.iterdir()) == [out]  # nothing else written beside it


def test_stdin_to_a_file(ts_clip, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    with open(ts_clip.path, "rb") as f:
        r = subprocess.run(VSR + ["upscale", "-", "-o", str(dst)], stdin=f, capture_output=True, text=True,
                           timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(read_video(dst).times) == ts_clip.frames


@pytest.mark.parametrize("fmt, says", [(None, "needs --format"), ("nosuchmuxer", "no such muxer"),
                                       ("mp4", "seekable")])
def test_stdout_needs_a_streamable_format(fmt, says, ts_clip, tmp_path: Path) -> None:
    cmd = VSR + ["upscale", str(ts_clip.path), "-o", "-"] + (["--format", fmt] if fmt else [])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert r.stdout == ""


def test_stdin_that_is_not_video_fails_in_one_line(tmp_path: Path) -> None:
    r = subprocess.run(VSR + ["upscale", "-", "-o", str(tmp_path / "o.mkv")], input="not a video" * 100,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "stdin" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []
