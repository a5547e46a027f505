"""Faults through the CLI: signals mid-file, SIGKILL then rerun, unwritable destinations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from media import read_video, write_video

VSR = [sys.executable, "-m", "vsr"]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("faults") / "long.mkv", frames=60, size=(128, 96))


class _Fed:
    """vsr reading a clip from a pipe this test feeds: the first half at once, the rest on
    :meth:`finish`. Once a progress line came, vsr is mid-file and cannot end before the rest is
    fed, however fast the machine: the signal tests need no timing."""

    def __init__(self, cmd: list[str], data: bytes) -> None:
        self.data, self.rest = data, threading.Event()
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.feeder = threading.Thread(target=self._feed, daemon=True)
        self.feeder.start()
        for line in self.p.stdout:  # the first line comes with the first frame
            if line.startswith(b"progress ") and int(line.split(b"frame=")[1].split()[0]) >= 1:
                break
        else:
            raise AssertionError(f"no progress line: {self.p.stderr.read().decode()}")

    def _feed(self) -> None:
        half = len(self.data) // 2
        try:
            self.p.stdin.write(self.data[:half])
            self.p.stdin.flush()
            self.rest.wait()
            self.p.stdin.write(self.data[half:])
        except OSError:  # vsr ended (signalled) before reading it all
            pass

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        """Feed the rest, wait for the end: ``(exit code, stderr)``."""
        self.rest.set()
        self.feeder.join(timeout)
        if not self.p.stdin.closed:  # vsr ended before the feeder closed it
            self.p.stdin.close()
        self.p.stdin = None  # closed: communicate() only reads
        _, err = self.p.communicate(timeout=timeout)
        return self.p.returncode, err.decode()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_file_leaves_nothing(sig, code, long_clip, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    run = _Fed(VSR + ["upscale", "-", "-o", str(dst), "--progress", "plain"], long_clip.path.read_bytes())
    run.p.send_signal(sig)
    returncode, err = run.finish()
    assert returncode == code, err
    assert err.strip().splitlines()[-1] in ("vsr: interrupted", "vsr: terminated")
    assert list(tmp_path.iterdir()) == []


def test_sigkill_then_the_same_command_succeeds(long_clip, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    cmd = VSR + ["upscale", "-", "-o", str(dst), "--progress", "plain"]
    data = long_clip.path.read_bytes()
    run = _Fed(cmd, data)
    run.p.kill()
    run.finish(60)
    assert not dst.exists()
    [stale] = list(tmp_path.iterdir())  # SIGKILL leaves the hidden partial: never with a media suffix
    assert stale.name.startswith(".out.mkv.vsr-partial-") and stale.suffix not in (".mkv", ".mp4")
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    assert len(read_video(dst).times) == long_clip.frames
    assert list(tmp_path.iterdir()) == [dst]  # the stale partial went too


def test_read_only_output_folder(long_clip, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    r = subprocess.run(VSR + ["upscale", str(long_clip.path), "-o", str(ro / "o.mkv")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert list(ro.iterdir()) == []


def test_output_that_is_a_directory(long_clip, tmp_path: Path) -> None:
    (tmp_path / "d.mkv").mkdir()
    r = subprocess.run(VSR + ["upscale", str(long_clip.path), "-o", str(tmp_path / "d.mkv")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "is a directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.fixture
def mounted_tmpfs(tmp_path: Path):
    """``mount(options) -> folder``: a tmpfs mounted under tmp_path (root only), unmounted afterwards."""
    mounts: list[Path] = []

    def mount(options: str) -> Path:
        where = tmp_path / f"mnt{len(mounts)}"
        where.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}): needs root")
        mounts.append(where)
        return where

    yield mount
    for m in mounts:
        subprocess.run(["umount", str(m)], capture_output=True)


def test_disk_full_fails_in_one_line_and_leaves_nothing(long_clip, mounted_tmpfs) -> None:
    where = mounted_tmpfs("size=96k")
    dst = where / "out.mkv"
    r = subprocess.run(VSR + ["upscale", str(long_clip.path), "-o", str(dst), "--codec", "ffv1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines == [f"vsr: error: {dst}: the disk is full; free some space there or write the output to another "
                     "disk"], r.stderr
    assert list(where.iterdir()) == []  # neither the output nor a hidden partial


def test_read_only_filesystem_fails_before_any_work(long_clip, mounted_tmpfs) -> None:
    where = mounted_tmpfs("ro,size=64k")
    r = subprocess.run(VSR + ["upscale", str(long_clip.path), "-o", str(where / "o.mkv")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write there" in lines[0], r.stderr
    assert list(where.iterdir()) == []
