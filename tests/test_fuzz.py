"""Seeded, bounded fuzzing: 30 mutants each of tiny MP4, MKV, MPEG-TS and packed-B-frame AVI
files through the CLI.

vsr must never hang or crash, never print a traceback, and never leave a partial file.
A mutant it refuses gets one line a person can act on (no class name, errno, return code
or hidden file name), after any warnings. A mutant FFmpeg reads comes out as FFmpeg gives
it: every mutant of which FFmpeg's libraries decode frames is upscaled, to at most as many
frames as they decode (and at least one).

All of a container's mutants run in one process (tests/fuzz_runner.py), so the test takes
seconds, not minutes.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import av
import av.bitstream
import pytest

from media import read_video, write_video
from media_timing import write_packed_avi

RUNNER = Path(__file__).with_name("fuzz_runner.py")
MUTANTS_PER_FILE = 30
# what the one error line must not show: a Python class name, an errno, a return code, the partial's name
_INTERNALS = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|Errno|returned -?\d|vsr-partial|avcodec_|\{'")


def _mutate(data: bytes, rng: random.Random, packet: int) -> bytes:
    """One random damage: bytes overwritten or zeroed, the file cut short, or a stretch of it
    copied elsewhere (timestamps that step back, as in joined or spliced recordings;
    ``packet``-aligned, for MPEG-TS)."""
    b = bytearray(data)
    kind = rng.choice(("overwrite", "truncate", "zero", "splice"))
    if kind == "truncate":
        return bytes(b[: rng.randrange(1, len(b))])
    if kind == "splice":
        n = len(b) // packet
        start, length, at = rng.randrange(n), rng.randrange(1, max(2, n // 4)), rng.randrange(n)
        piece = b[start * packet: (start + length) * packet]
        return bytes(b[: at * packet] + piece + b[at * packet:])
    start = rng.randrange(0, len(b))
    n = rng.randrange(1, 256)
    for i in range(start, min(len(b), start + n)):
        b[i] = 0 if kind == "zero" else rng.randrange(256)
    return bytes(b)


def ffmpeg_frames(path: Path) -> int:
    """Frames FFmpeg's libraries decode from ``path``, skipping packets that fail as ``ffmpeg``
    does (0: it cannot be opened or holds no video); MPEG-4 Part 2 through
    ``mpeg4_unpack_bframes``, as ``ffmpeg -bsf:v mpeg4_unpack_bframes`` reads it."""
    try:
        c = av.open(str(path))
    except (av.error.FFmpegError, ValueError):
        return 0
    with c:
        if not c.streams.video:
            return 0
        s = c.streams.video[0]
        unpack = None
        if s.codec_context.name == "mpeg4":
            unpack = av.bitstream.BitStreamFilterContext("mpeg4_unpack_bframes", s)
        n = 0
        try:
            for p in c.demux(s):
                for q in [p] if unpack is None else unpack.filter(p if p.size else None):
                    try:
                        n += len(s.codec_context.decode(q))
                    except av.error.FFmpegError:
                        pass
        except av.error.FFmpegError:  # a read error ends the input, as in ffmpeg
            pass
        try:
            n += len(s.codec_context.decode(None))
        except av.error.FFmpegError:
            pass
        return n


def _seed(suffix: str, path: Path) -> int:
    """Write the seed file; returns the mutation alignment (188 for MPEG-TS packets, else 1)."""
    if suffix == ".avi":
        write_packed_avi(path, frames=8)
    else:
        write_video(path, frames=6, audio=True, options={"preset": "ultrafast"},
                    container_format="mpegts" if suffix == ".ts" else None)
    return 188 if suffix == ".ts" else 1


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts", ".avi"])
def test_mutated_files_fail_cleanly_or_come_out_as_ffmpeg_reads_them(suffix: str, tmp_path: Path) -> None:
    seed = tmp_path / f"seed{suffix}"
    align = _seed(suffix, seed)
    data = seed.read_bytes()
    rng = random.Random(f"vsr-fuzz{suffix}")
    sources = []
    for i in range(MUTANTS_PER_FILE):
        src = tmp_path / f"m{i}{suffix}"
        src.write_bytes(_mutate(data, rng, align))
        sources.append(src)
    out_dir = tmp_path / "out"
    r = subprocess.run([sys.executable, str(RUNNER), str(out_dir), *map(str, sources), "--", "--codec", "ffv1"],
                       capture_output=True, text=True, timeout=600)  # a hang fails the test here
    results = [json.loads(line) for line in r.stdout.splitlines()]
    done = {x["name"]: x for x in results if "name" in x}
    started = [x["start"] for x in results if "start" in x]
    assert r.returncode == 0 and len(done) == MUTANTS_PER_FILE, (started[-1:], r.returncode, r.stderr[-2000:])
    for src in sources:
        res, expected = done[src.name], ffmpeg_frames(src)
        code, err = res["code"], res["stderr"]
        why = (src.name, code, expected, err)
        assert "Traceback" not in err, why
        dst = out_dir / src.stem / "o.mkv"
        if code == 0:
            assert 1 <= len(read_video(dst).times) <= expected, why
        else:
            assert code in (1, 2) and expected == 0, why  # FFmpeg decodes nothing of it either
            *warnings, last = err.strip().splitlines()  # warnings (skipped packets) may precede it
            assert last.startswith("vsr: error: ") and all(w.startswith("WARNING ") for w in warnings), why
            assert not _INTERNALS.search(last), why
        left = sorted(p.name for p in dst.parent.iterdir())
        assert left == (["o.mkv"] if code == 0 else []), (src.name, left)
