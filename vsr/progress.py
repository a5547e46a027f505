"""Progress reporters for people (a tqdm bar) and for farm schedulers (plain or JSON lines)."""

from __future__ import annotations

import json
import time
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from vsr.pipeline import Progress

__all__ = ["make_reporter", "MODES", "format_event", "progress_fields", "summary_line", "human_bytes",
           "human_seconds", "speed_text"]

MODES = ("auto", "none", "bar", "plain", "json")


def progress_fields(name: str, p: Progress) -> dict:
    """The fields of one ``progress`` line: ``file [segment] frame total percent fps speed eta elapsed``
    (``total``, ``percent`` and ``eta`` are None when the frame count is unknown; ``speed`` is
    video seconds per wall-clock second, FFmpeg's ``speed=``: 2.0 runs twice as fast as real time,
    None before two timestamps are known; ``segment`` only in a segmented run)."""
    pct = round(100.0 * p.frames / p.total, 1) if p.total else None
    speed = p.speed
    seg = {} if p.segment is None else {"segment": p.segment}
    return {"file": name, **seg, "frame": p.frames, "total": p.total or None, "percent": pct, "fps": round(p.fps, 2),
            "speed": None if speed is None else round(speed, 3),
            "eta": None if p.eta is None else round(p.eta, 1), "elapsed": round(p.elapsed, 1)}


def human_bytes(n: float) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as file managers show them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def human_seconds(s: float) -> str:
    """``17.64`` -> ``"17.6 s"``, ``185`` -> ``"3 min 05 s"``, ``7440`` -> ``"2 h 04 min"``."""
    if s < 60:
        return f"{s:.1f} s"
    s = round(s)
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def speed_text(speed: float | None) -> str:
    """``0.523`` -> ``"0.52x realtime"``; ``"?x realtime"`` when unknown."""
    return "?x realtime" if speed is None else f"{speed:.2f}x realtime"


def summary_line(output: str, stats, size_bytes: int | None) -> str:
    """What one job did, in one line: the output, the model, weight set, backend, codec, frames,
    sizes in pixels, time, fps and speed against real time, and the file size.

    Args:
        output: the output's name as the user gave it.
        stats: the job's :class:`vsr.pipeline.VideoStats`.
        size_bytes: the output file's size, None for a stream (stdout).
    """
    speed = stats.duration / stats.seconds if stats.duration and stats.seconds else None
    size = "" if size_bytes is None else f", {human_bytes(size_bytes)}"
    backend = f"{stats.backend} {stats.precision}" if stats.precision else stats.backend
    return (f"{output}: {stats.model} x{stats.scale} {stats.weights} weights, {backend}, {stats.codec}; "
            f"{stats.frames} frames {stats.input_size[0]}x{stats.input_size[1]} -> "
            f"{stats.output_size[0]}x{stats.output_size[1]} in {stats.seconds:.1f} s "
            f"({stats.fps:.2f} fps, {speed_text(speed)}){size}")


def format_event(mode: str, event: str, fields: dict) -> str:
    """One line, the same for single files and batches: ``json`` (``{"event": EVENT, ...}``) or
    ``plain`` (``EVENT key=value ...``, ``?`` for unknown values)."""
    if mode == "json":
        return json.dumps({"event": event, **fields}, default=str)
    return event + " " + " ".join(f"{k}={'?' if v is None else v}" for k, v in fields.items())


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
            bar.set_postfix_str(speed_text(p.speed), refresh=False)
            bar.update(p.frames - bar.n)

        return on_bar, bar.close
    last = [0.0]
    latest: list[Progress | None] = [None]
    printed: list[Progress | None] = [None]

    def emit(p: Progress) -> None:
        printed[0] = p
        stream.write(format_event(mode, "progress", progress_fields(name, p)) + "\n")
        stream.flush()

    def on_line(p: Progress) -> None:
        latest[0] = p
        now = time.monotonic()
        if now - last[0] >= interval:
            last[0] = now
            emit(p)

    def close() -> None:  # the last report (the true total, once the file ended) is always written, once
        if latest[0] is not None and latest[0] is not printed[0]:
            emit(latest[0])

    return on_line, close

