"""Exceptions with messages a user can act on; the CLI maps them to exit codes."""

__all__ = ["VsrError", "ModelError", "WeightsError", "MediaError", "BackendError", "OutputExistsError", "UsageError",
           "missing_torch"]


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
