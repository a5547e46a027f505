"""Make the end-to-end benchmark's input: N frames of a real clip, centre-cropped to an aspect
ratio and scaled to a size, encoded near-losslessly (libx264 crf 12) so the benchmark's
decoder sees real content, not a synthetic pattern.

    python -m tools.bench_clip ../shared/data/video/big_buck_bunny_0_30.webm /tmp/bbb_480x360.mp4
    python -m tools.bench_clip SRC DST --frames 300 --size 480x360

The crop is the largest centred rectangle of the output's aspect ratio (1280x720 -> 960x720 for
4:3), then a bicubic scale to ``--size``.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import av


def make_clip(src: Path, dst: Path, frames: int, width: int, height: int) -> int:
    """Write ``frames`` frames of ``src`` (fewer if it is shorter) to ``dst``; returns the count."""
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.guessed_rate or vin.average_rate or 25
        st = out.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        st.codec_context.options = {"crf": "12", "preset": "medium"}
        graph = None
        for frame in inp.decode(vin):
            if graph is None:
                w, h = frame.width, frame.height
                cw, ch = (w, w * height // width) if w * height <= h * width else (h * width // height, h)
                cw, ch = cw - cw % 2, ch - ch % 2
                graph = av.filter.Graph()
                chain = [graph.add_buffer(template=vin),
                         graph.add("crop", f"{cw}:{ch}:{(w - cw) // 2}:{(h - ch) // 2}"),
                         graph.add("scale", f"{width}:{height}:flags=bicubic"),
                         graph.add("format", "yuv420p"), graph.add("buffersink")]
                for a, b in zip(chain, chain[1:]):
                    a.link_to(b)
                graph.configure()
            graph.push(frame)
            pic = graph.pull()
            pic.pts, pic.time_base = n, st.codec_context.time_base or 1 / Fraction(rate)
            for p in st.encode(pic):
                out.mux(p)
            n += 1
            if n >= frames:
                break
        for p in st.encode(None):
            out.mux(p)
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="480x360", help="WxH")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    n = make_clip(args.src, args.dst, args.frames, w, h)
    print(f"{args.dst}: {n} frames, {w}x{h}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
