"""Batch progress for people (an overall tqdm bar plus one bar per running file) and for
farm managers (``plain`` or ``json`` lines: per-file progress and batch-level counts).

A reporter is called from the job threads; every method is thread-safe and each line
is written whole (never interleaved with another job's).

Line formats (``json`` has the same keys)::

    progress file=NAME frame=120 total=480 percent=25.0 fps=31.20 eta=11.5 elapsed=3.8
    file file=NAME status=done output=OUT frames=480 seconds=15.2 reason=
    batch done=3 skipped=1 failed=0 finished=4 total=10 percent=41.3 elapsed=60.2 eta=85.7
"""

from __future__ import annotations

import threading
import time
from typing import IO, TYPE_CHECKING, Protocol

from vsr.progress import format_event, progress_fields

if TYPE_CHECKING:
    from vsr.batch.report import FileResult
    from vsr.pipeline import Progress

__all__ = ["BatchReporter", "NullReporter", "LineReporter", "BarReporter", "make_batch_reporter"]


class BatchReporter(Protocol):
    """What :func:`vsr.batch.upscale_batch` tells about its progress."""

    def begin(self, files: int, frames: int) -> None:
        """The batch starts: ``files`` to process (skipped ones included), ``frames`` to upscale (estimate)."""

    def file_started(self, name: str, frames: int) -> None:
        """A job starts on ``name``, expected to write ``frames`` frames (0: unknown)."""

    def file_progress(self, name: str, p: "Progress") -> None:
        """Called after each frame a job encodes."""

    def file_finished(self, result: "FileResult") -> None:
        """A file is done, skipped or failed."""

    def close(self) -> None:
        """The batch is over."""


class NullReporter:
    def begin(self, files: int, frames: int) -> None: ...
    def file_started(self, name: str, frames: int) -> None: ...
    def file_progress(self, name: str, p: "Progress") -> None: ...
    def file_finished(self, result: "FileResult") -> None: ...
    def close(self) -> None: ...


class _Counts:
    """Batch-level counts shared by the reporters: files by outcome, frames done, ETA."""

    def __init__(self) -> None:
        self.files = 0
        self.frames_total = 0
        self.by_status = {"done": 0, "skipped": 0, "failed": 0}
        self.frames_finished = 0  # frames of files that ended
        self.frames_running: dict[str, int] = {}
        self.expected: dict[str, int] = {}
        self.t0 = time.monotonic()

    def frames_done(self) -> int:
        return self.frames_finished + sum(self.frames_running.values())

    def finish(self, result: "FileResult") -> None:
        """Count a file that ended: the frames it wrote, and the total corrected to them (a failed
        file wrote none), so the counts end true whatever the estimates were."""
        self.by_status[result.status] = self.by_status.get(result.status, 0) + 1
        self.frames_running.pop(result.input, None)
        # a file never reported started (a Ray task) was counted in the total with its input's frames
        expected = self.expected.pop(result.input, result.input_frames if result.action == "upscale" else 0)
        written = result.frames if result.status == "done" and result.action == "upscale" else 0
        self.frames_finished += written
        self.frames_total = max(0, self.frames_total + written - expected)

    def fields(self) -> dict:
        done = self.frames_done()
        elapsed = time.monotonic() - self.t0
        finished = sum(self.by_status.values())
        if self.frames_total:
            frac = min(1.0, done / self.frames_total)
        else:
            frac = finished / self.files if self.files else 1.0
        eta = elapsed * (1 - frac) / frac if 0 < frac < 1 else (0.0 if frac >= 1 else None)
        return {**self.by_status, "finished": finished, "total": self.files, "percent": round(100 * frac, 1),
                "elapsed": round(elapsed, 1), "eta": round(eta, 1) if eta is not None else None}


class LineReporter:
    """``plain`` or ``json`` lines on ``stream``: per-file progress at most every ``interval``
    seconds per file, one line per finished file, and a batch line after each file."""

    def __init__(self, mode: str, stream: IO[str], interval: float = 1.0) -> None:
        if mode not in ("plain", "json"):
            raise ValueError(f"mode must be plain or json, not {mode!r}")
        self.mode, self.stream, self.interval = mode, stream, interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._latest: dict[str, "Progress"] = {}
        self._printed: dict[str, "Progress"] = {}
        self.counts = _Counts()

    def _emit(self, event: str, fields: dict) -> None:
        self.stream.write(format_event(self.mode, event, fields) + "\n")
        self.stream.flush()

    def begin(self, files: int, frames: int) -> None:
        with self._lock:
            self.counts.files, self.counts.frames_total = files, frames
            self.counts.t0 = time.monotonic()
            self._emit("batch", self.counts.fields())

    def file_started(self, name: str, frames: int) -> None:
        with self._lock:
            self.counts.expected[name] = frames
            self.counts.frames_running[name] = 0

    def _progress_line(self, name: str, p: "Progress") -> None:
        self._printed[name] = p
        self._emit("progress", progress_fields(name, p))

    def file_progress(self, name: str, p: "Progress") -> None:
        now = time.monotonic()
        with self._lock:
            self.counts.frames_running[name] = min(p.frames, self.counts.expected.get(name, p.frames) or p.frames)
            self._latest[name] = p
            if now - self._last.get(name, 0.0) < self.interval:
                return
            self._last[name] = now
            self._progress_line(name, p)

    def file_finished(self, result: "FileResult") -> None:
        with self._lock:
            latest = self._latest.pop(result.input, None)
            if latest is not None and self._printed.get(result.input) is not latest:
                self._progress_line(result.input, latest)  # the last report (true total) is always written
            self._printed.pop(result.input, None)
            self.counts.finish(result)
            self._last.pop(result.input, None)
            self._emit("file", {"file": result.input, "status": result.status, "output": result.output,
                                "frames": result.frames, "seconds": round(result.seconds, 2),
                                "reason": result.reason})
            self._emit("batch", self.counts.fields())

    def close(self) -> None:
        pass


class BarReporter:
    """tqdm bars on ``stream``: the batch (frames of all files) at the top, one per running file below."""

    def __init__(self, stream: IO[str], jobs: int) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.stream = stream
        self._lock = threading.Lock()
        self._slots: list[object | None] = [None] * max(1, jobs)
        self._bars: dict[str, object] = {}
        self.counts = _Counts()
        self._overall = None

    def _desc(self) -> str:
        c = self.counts.by_status
        return f"batch {sum(c.values())}/{self.counts.files} files" + (f", {c['failed']} failed" if c["failed"] else "")

    def begin(self, files: int, frames: int) -> None:
        with self._lock:
            self.counts.files, self.counts.frames_total = files, frames
            self.counts.t0 = time.monotonic()
            self._overall = self._tqdm(total=frames or None, desc=self._desc(), unit="frame", position=0,
                                       file=self.stream, dynamic_ncols=True, leave=True)

    def file_started(self, name: str, frames: int) -> None:
        with self._lock:
            self.counts.expected[name] = frames
            self.counts.frames_running[name] = 0
            slot = next((i for i, b in enumerate(self._slots) if b is None), len(self._slots))
            if slot == len(self._slots):
                self._slots.append(None)
            label = name if len(name) <= 40 else "…" + name[-39:]
            bar = self._tqdm(total=frames or None, desc=label, unit="frame", position=slot + 1,
                             file=self.stream, dynamic_ncols=True, leave=False)
            self._slots[slot] = bar
            self._bars[name] = bar

    def file_progress(self, name: str, p: "Progress") -> None:
        with self._lock:
            bar = self._bars.get(name)
            if bar is None:
                return
            if p.total and bar.total != p.total:
                bar.total = p.total
            bar.update(p.frames - bar.n)
            before = self.counts.frames_done()
            self.counts.frames_running[name] = min(p.frames, self.counts.expected.get(name, p.frames) or p.frames)
            if self._overall is not None:
                self._overall.update(self.counts.frames_done() - before)

    def file_finished(self, result: "FileResult") -> None:
        with self._lock:
            self.counts.finish(result)
            bar = self._bars.pop(result.input, None)
            if bar is not None:
                self._slots[self._slots.index(bar)] = None
                bar.close()
            if result.status == "failed":  # one line above the bars; a traceback goes only to the -vv log
                self._tqdm.write(f"failed: {result.input}: {result.reason}", file=self.stream)
            if self._overall is not None:
                self._overall.total = self.counts.frames_total or None
                self._overall.n = self.counts.frames_done()
                self._overall.set_description(self._desc())  # refreshes the bar

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
            if self._overall is not None:
                self._overall.close()


def make_batch_reporter(mode: str, stdout: IO[str], stderr: IO[str], jobs: int = 1,
                        interval: float = 1.0) -> BatchReporter:
    """``auto`` (bars when ``stderr`` is a terminal, else none), ``none``, ``bar``, ``plain``, ``json``."""
    if mode == "auto":
        mode = "bar" if getattr(stderr, "isatty", lambda: False)() else "none"
    if mode == "none":
        return NullReporter()
    if mode == "bar":
        return BarReporter(stderr, jobs)
    return LineReporter(mode, stdout, interval)
