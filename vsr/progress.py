"""Progress reporters for people (a tqdm bar) and for farm schedulers (plain or JSON lines)."""

from __future__ import annotations

import json
import time
from typing import IO, Callable

from vsr.pipeline import Progress

__all__ = ["make_reporter", "MODES"]

MODES = ("auto", "none", "bar", "plain", "json")


def make_reporter(mode: str, name: str, stream: IO[str], err: IO[str], interval: float = 1.0):
    """A ``(callback, close)`` pair for ``upscale_video(progress=callback)``.

    Args:
        mode: ``none``; ``bar`` (tqdm on ``err``); ``plain`` / ``json``: one line on
            ``stream`` per ``interval`` seconds and a last one at the end; ``auto``: ``bar``
            when ``err`` is a terminal, else ``none``.
        name: the file name shown in each report.
    """
    if mode == "auto":
        mode = "bar" if getattr(err, "isatty", lambda: False)() else "none"
    if mode == "none":
        return (lambda p: None), (lambda: None)
    if mode == "bar":
        from tqdm import tqdm

        bar = tqdm(desc=name, unit="frame", file=err, dynamic_ncols=True, leave=True)

        def on_bar(p: Progress) -> None:
            if p.total and bar.total != p.total:
                bar.total = p.total
            bar.update(p.frames - bar.n)

        return on_bar, bar.close
    last = [0.0]
    latest: list[Progress | None] = [None]

    def line(p: Progress) -> str:
        pct = round(100.0 * p.frames / p.total, 1) if p.total else None
        eta = round(p.eta, 1) if p.eta is not None else None
        if mode == "json":
            return json.dumps({"event": "progress", "file": name, "frame": p.frames, "total": p.total,
                               "percent": pct, "fps": round(p.fps, 2), "eta": eta, "elapsed": round(p.elapsed, 1)})
        return (f"progress file={name} frame={p.frames} total={p.total} percent={pct if pct is not None else '?'} "
                f"fps={p.fps:.2f} eta={eta if eta is not None else '?'} elapsed={p.elapsed:.1f}")

    def on_line(p: Progress) -> None:
        latest[0] = p
        now = time.monotonic()
        if now - last[0] >= interval:
            last[0] = now
            print(line(p), file=stream, flush=True)

    def close() -> None:
        if latest[0] is not None and last[0] != -1:
            print(line(latest[0]), file=stream, flush=True)
            last[0] = -1

    return on_line, close


Callback = Callable[[Progress], None]
