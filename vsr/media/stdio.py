"""``-`` as input (stdin) and as output (stdout): FFmpeg's ``pipe:`` protocol.

stdout cannot be renamed atomically: a job that fails half way has already written
part of the stream to the reader, so the reader must treat a non-zero exit as failure.
"""

from __future__ import annotations

from vsr.errors import UsageError

__all__ = ["STDIO", "is_stdio", "ffmpeg_url", "check_stream_format", "NOT_STREAMABLE"]

STDIO = "-"

# muxers that seek back to write an index or header after the last packet: a pipe cannot
NOT_STREAMABLE = frozenset({"mp4", "mov", "ipod", "ismv", "psp", "3gp", "3g2", "f4v", "avi", "wav"})


def is_stdio(path) -> bool:
    """True for ``-`` (stdin as input, stdout as output)."""
    return str(path) == STDIO


def ffmpeg_url(path, output: bool) -> str:
    """``pipe:1`` / ``pipe:0`` for ``-``, else the path as given."""
    if is_stdio(path):
        return "pipe:1" if output else "pipe:0"
    return str(path)


def check_stream_format(name: str | None) -> str:
    """Validate ``--format`` for ``-o -``; returns the muxer name.

    Raises:
        UsageError: missing, unknown, or a muxer that needs a seekable file.
    """
    import av

    if not name:
        raise UsageError("-o - writes to stdout and needs --format NAME (an FFmpeg muxer: matroska, mpegts, nut ...)")
    try:
        av.ContainerFormat(name, "w")
    except (ValueError, av.error.FFmpegError):
        raise UsageError(f"--format {name}: FFmpeg has no such muxer (try matroska, mpegts, nut)") from None
    if name in NOT_STREAMABLE:
        raise UsageError(f"--format {name}: this container needs a seekable file and cannot go to stdout; "
                         "use matroska, mpegts or nut") from None
    return name
