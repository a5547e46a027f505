"""URLs as input: a local HTTP server, a local TCP sender, a stalled sender and --timeout."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from servers import serve_folder
from media import read_video, write_video

VSR = [sys.executable, "-m", "vsr"]


@pytest.fixture(scope="module")
def ts_clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("net") / "clip.ts", frames=8, container_format="mpegts")


@pytest.fixture
def http_root(ts_clip):
    """``http://127.0.0.1:PORT`` serving the clip's folder, from a thread."""
    with serve_folder(ts_clip.path.parent) as url:
        yield url


def _sender(data: bytes, stall: bool):
    """A TCP server on 127.0.0.1 that writes ``data`` to its first client, then closes (or stalls)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.sendall(data)
            if stall:  # a dead camera: the connection stays open, nothing more arrives
                stop.wait(60)

    threading.Thread(target=serve, daemon=True).start()
    return srv, stop


def test_http_url_input(http_root, ts_clip, tmp_path: Path) -> None:
    dst = tmp_path / "out.mkv"
    r = subprocess.run(VSR + ["upscale", f"{http_root}/clip.ts", "-o", str(dst)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    info = read_video(dst)
    assert len(info.times) == ts_clip.frames and info.width == 2 * ts_clip.size[0]


def test_http_url_that_is_missing_fails_in_one_line(http_root, tmp_path: Path) -> None:
    r = subprocess.run(VSR + ["upscale", f"{http_root}/nope.ts", "-o", str(tmp_path / "o.mkv")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "nope.ts" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_tcp_sender_input(ts_clip, tmp_path: Path) -> None:
    srv, stop = _sender(ts_clip.path.read_bytes(), stall=False)
    try:
        dst = tmp_path / "out.mkv"
        r = subprocess.run(VSR + ["upscale", f"tcp://127.0.0.1:{srv.getsockname()[1]}", "-o", str(dst),
                                  "--timeout", "20", "--progress", "plain"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert len(read_video(dst).times) == ts_clip.frames
    finally:
        stop.set()
        srv.close()


def test_stalled_sender_ends_with_one_line_after_the_timeout(ts_clip, tmp_path: Path) -> None:
    data = ts_clip.path.read_bytes()
    srv, stop = _sender(data[: len(data) // 2], stall=True)
    try:
        dst = tmp_path / "out.mkv"
        t0 = time.monotonic()
        r = subprocess.run(VSR + ["upscale", f"tcp://127.0.0.1:{srv.getsockname()[1]}", "-o", str(dst),
                                  "--timeout", "2"], capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "no data for 2 s" in lines[0], r.stderr
        assert took < 40
        assert list(tmp_path.iterdir()) == []
    finally:
        stop.set()
        srv.close()


def test_bad_input_option_is_a_usage_error(ts_clip, tmp_path: Path) -> None:
    r = subprocess.run(VSR + ["upscale", str(ts_clip.path), "-o", str(tmp_path / "o.mkv"), "--input-option", "x"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--input-option 'x': expected KEY=VALUE" in r.stderr, r.stderr


def _slow_sender(data: bytes, seconds: float):
    """A TCP server that trickles ``data`` to its first client over ``seconds`` (a live camera)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            step = 188 * 8
            pause = seconds * step / len(data)
            try:
                for i in range(0, len(data), step):
                    if stop.is_set():
                        return
                    conn.sendall(data[i:i + step])
                    time.sleep(pause)
            except OSError:
                return
            stop.wait(60)

    threading.Thread(target=serve, daemon=True).start()
    return srv, stop


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupting_a_live_stream_keeps_what_was_received(sig, tmp_path: Path) -> None:
    import signal

    clip = write_video(tmp_path / "long.ts", frames=250, container_format="mpegts")
    srv, stop = _slow_sender(clip.path.read_bytes(), seconds=30)
    dst = tmp_path / "out" / "rec.mkv"
    try:
        p = subprocess.Popen(VSR + ["upscale", f"tcp://127.0.0.1:{srv.getsockname()[1]}", "-o", str(dst),
                                    "--timeout", "20", "--progress", "plain"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        for line in p.stdout:  # wait until a few frames are through
            lines.append(line)
            if "frame=" in line and int(line.split("frame=")[1].split()[0]) >= 5:
                break
        p.send_signal(getattr(signal, sig))
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "total=?" in lines[-1] and "percent=?" in lines[-1] and "eta=?" in lines[-1]  # no end known
        info = read_video(dst)
        assert 5 <= len(info.times) < clip.frames
        assert info.times == sorted(info.times)
        assert [f.name for f in dst.parent.iterdir()] == ["rec.mkv"]
    finally:
        stop.set()
        srv.close()
