"""What survives a killed batch: the journal, the OUTDIR lock, stale partial files, and
the check that an output present at its destination really is complete.

The journal is ``OUTDIR/.vsr-batch.jsonl``: one JSON object per line, each appended
with a single ``write`` and ``fsync``'d, so a kill at any moment leaves at most one torn
last line (ignored when read). Events: ``start``, ``done``, ``failed``, ``skipped``.
A ``done`` record holds the input's and the output's size and mtime: on the next run
an output whose size and mtime still match is skipped without opening it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from vsr.config import TimeRange
from vsr.errors import UsageError, VsrError, cause

__all__ = ["JOURNAL_NAME", "LOCK_NAME", "Journal", "OutdirLock", "read_journal",
           "check_complete", "file_stamp", "input_stamp"]

JOURNAL_NAME = ".vsr-batch.jsonl"
LOCK_NAME = ".vsr-batch.lock"


def file_stamp(path: Path) -> dict[str, int]:
    """``{"bytes": size, "mtime_ns": mtime}`` of a file."""
    st = path.stat()
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def input_stamp(src: str | Path) -> dict[str, Any]:
    """What the journal records of an input: :func:`file_stamp` of a file, ``{"url": URL}``
    of a URL (whose content cannot be stamped: a URL's output is redone only with --overwrite)."""
    from vsr.media.decode import is_url

    if isinstance(src, str) and is_url(src):
        return {"url": src}
    return file_stamp(Path(src))


class Journal:
    """Append-only JSON-lines log of a batch, safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def append(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
        data = (json.dumps(record, default=str) + "\n").encode()
        with self._lock:
            os.write(self._fd, data)
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """The last ``done`` record per output (absolute path string); torn or foreign lines ignored."""
    done: dict[str, dict[str, Any]] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return done
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("event") == "done" and isinstance(rec.get("output"), str):
            done[rec["output"]] = rec
    return done


class OutdirLock:
    """An exclusive ``flock`` on ``OUTDIR/.vsr-batch.lock``: one batch per OUTDIR at a time.

    The kernel drops it when the process dies (kill -9 included), so it never goes stale.

    Raises:
        UsageError: another batch holds it.
    """

    def __init__(self, outdir: Path) -> None:
        import fcntl

        outdir.mkdir(parents=True, exist_ok=True)
        self.path = outdir / LOCK_NAME
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = os.pread(self._fd, 64, 0).decode(errors="replace").strip()
            os.close(self._fd)
            raise UsageError(f"{outdir}: another vsr batch is writing there (pid {other or '?'}); "
                             "wait for it or choose another -d") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1

    def __enter__(self) -> "OutdirLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_complete(src: str | Path, dst: Path, expected_frames: int | None, journal: dict[str, dict[str, Any]],
                   copy: bool = False, options: dict[str, str] | None = None,
                   timeout: float | None = None, time_range: TimeRange | None = None) -> tuple[bool, str]:
    """Whether ``dst`` is a complete output of ``src``.

    First the journal: a ``done`` record for ``dst`` whose output size and mtime still
    match, for the same input size and mtime. Otherwise the file itself: a copy must
    have the input's size; a video must open and hold as many video frames as the
    input (within 0.2%, at least 2 frames). ``src`` may be a URL (``options`` and
    ``timeout`` then open it when its frames must be counted). With a ``time_range`` only
    a ``done`` record of that same range counts (its frames cannot be counted exactly cheaply).

    Returns:
        ``(complete, why)``: ``why`` says how it was decided or what is wrong.
    """
    from vsr.media.probe import count_frames, probe

    rec = journal.get(str(dst.resolve()))
    try:
        out_stamp, in_stamp = file_stamp(dst), input_stamp(src)
    except OSError as e:
        return False, f"cannot stat ({cause(e)})"
    want_range = None if time_range is None else str(time_range)
    if rec and rec.get("output_stamp") == out_stamp and rec.get("input_stamp") == in_stamp:
        if rec.get("range") == want_range:
            return True, "done in an earlier run (journal)"
        return False, f"made from {'the time range ' + rec['range'] if rec.get('range') else 'the whole input'}"
    if want_range is not None:
        return False, f"no record of the time range {want_range} in the journal"
    if copy:
        same = out_stamp["bytes"] == in_stamp["bytes"]
        return same, "copied in an earlier run" if same else "differs in size from the input"
    try:
        if expected_frames is None:
            info = probe(src, options, timeout)
            expected_frames = info.frames if info.frames_exact else count_frames(src, options, timeout)
        got = count_frames(dst)
    except VsrError as e:
        return False, f"does not read as a complete video ({cause(e)})"
    if abs(got - expected_frames) <= max(2, expected_frames // 500):
        return True, f"already complete ({got} frames)"
    return False, f"holds {got} frames where the input has {expected_frames}"
