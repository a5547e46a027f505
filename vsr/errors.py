"""Exceptions with messages a user can act on; the CLI maps them to exit codes."""

import errno
import os

__all__ = ["VsrError", "ModelError", "WeightsError", "MediaError", "BackendError", "OutputExistsError", "UsageError",
           "missing_torch", "os_error_message", "OS_ERRORS", "cause"]


class VsrError(Exception):
    """Base of every error vsr raises on purpose. ``str(e)`` is one line for the user."""

    exit_code = 1


class ModelError(VsrError):
    """Unknown model or scale (a usage error)."""

    exit_code = 2


class WeightsError(ModelError):
    """A shipped weights file that is missing or fails its checksum: a broken install, not a
    usage error."""

    exit_code = 1


class MediaError(VsrError):
    """An input that cannot be read as video, or an output that cannot be written."""


class BackendError(VsrError):
    """A backend that is not installed or cannot run on the requested device."""


class OutputExistsError(VsrError):
    """The destination exists and ``overwrite`` was not given."""

    exit_code = 2


class UsageError(VsrError):
    """A command-line argument or option value that makes no sense."""

    exit_code = 2


def missing_torch(e: BaseException) -> bool:
    """Whether ``e`` is the ImportError of PyTorch (the ``vsr-luma[torch]`` extra) not being installed."""
    return isinstance(e, ImportError) and (e.name or "").partition(".")[0] == "torch"


# What an operating-system error means for the file it names, and what to do about it.
OS_ERRORS = {
    errno.ENOSPC: "the disk is full; free some space there or write the output to another disk",
    errno.EDQUOT: "your disk quota is used up; free some space or write the output elsewhere",
    errno.EFBIG: "the file grew beyond the largest size this process may write (the shell's 'ulimit -f' or the "
                 "file system's limit); raise the limit or write to another file system",
    errno.EROFS: "the file system is read-only; write the output elsewhere",
    errno.EACCES: "permission denied; check the file's and its folder's permissions",
    errno.EPERM: "operation not permitted; check the file's and its folder's permissions",
    errno.ENOENT: "no such file or folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EIO: "input/output error on the device; check the disk or network share",
    errno.EPIPE: "the reading side went away before the output was complete",
}


def os_error_message(e: OSError, name: str | os.PathLike | None = None) -> str:
    """One line for an operating-system error: ``NAME: what happened; what to do``, without
    the errno number or Python's exception name.

    Args:
        e: the error (``OSError`` or a subclass, PyAV's included).
        name: the file to name (e.g. the destination instead of its hidden partial file);
            default ``e.filename``.
    """
    what = OS_ERRORS.get(e.errno) or cause(e)
    name = name if name is not None else e.filename
    name = {"pipe:0": "standard input", "pipe:1": "standard output", "pipe:": "standard output"}.get(str(name), name)
    return f"{name}: {what}" if name else what[0].upper() + what[1:]


def cause(e: BaseException) -> str:
    """The readable part of a library's error, for a message's parentheses: an OS or FFmpeg
    error's text without its ``[Errno N]``, file name or return code (``Invalid data found when
    processing input``), else the first line of ``str(e)``."""
    text = getattr(e, "strerror", None)  # OSError's, and PyAV's (some of which are ValueErrors)
    return (text or str(e).strip().split("\n")[0] or "no detail").rstrip(".")
