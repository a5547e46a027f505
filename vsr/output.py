"""Safe output files: a hidden temporary name beside the destination, renamed when complete.

:func:`atomic_output` is for media a muxer writes; :func:`atomic_write` for bytes in memory
(manifest, reports, engines, weights). They are the only writers of files vsr keeps.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vsr.errors import MediaError, OutputExistsError, cause, os_error_message

__all__ = ["partial_path", "public_name", "public_text", "atomic_output", "atomic_write", "PARTIAL_TAG",
           "remove_stale_partials"]

PARTIAL_TAG = ".vsr-partial"


def partial_path(dst: Path) -> Path:
    """The hidden temporary name a destination is written under: ``.NAME.vsr-partial-PID``.

    Same folder; it ends in the pid, never in a media suffix, so a library scanner does not
    pick it up. Writers name the container explicitly
    (:func:`vsr.media.containers.muxer_for`).
    """
    return dst.with_name(f".{dst.name}{PARTIAL_TAG}-{os.getpid()}")


_HIDDEN = re.compile(r"\.(?P<name>.+?)(?:" + re.escape(PARTIAL_TAG) + r"-\d+|\.\d+-[0-9a-f]{8}\.tmp)")


def public_name(path: str | os.PathLike) -> str:
    """The destination a hidden temporary file stands for (``dir/.out.mp4.vsr-partial-123`` ->
    ``dir/out.mp4``, likewise :func:`atomic_write`'s); any other path unchanged. Messages name
    the destination, never the temporary file."""
    text = os.fspath(path)
    head, _, base = text.rpartition(os.sep)
    m = _HIDDEN.fullmatch(base)
    return text if m is None else f"{head}{os.sep if head or text.startswith(os.sep) else ''}{m['name']}"


_HIDDEN_IN_TEXT = re.compile(r"(?<![^\s'\"(),])(?P<dir>[^\s'\"(),]*/)?\.(?P<name>[^\s'\"(),/]+?)"
                             r"(?:" + re.escape(PARTIAL_TAG) + r"-\d+|\.\d+-[0-9a-f]{8}\.tmp)(?![\w.-])")


def public_text(text: str) -> str:
    """``text`` (an error message) with every hidden temporary file's name in it replaced by the
    destination's, as :func:`public_name` does for one path."""
    return _HIDDEN_IN_TEXT.sub(lambda m: (m["dir"] or "") + m["name"], text)


# Errors of the disk being written to: whatever file they name, they are about the destination.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


_PARTIAL_PID = re.compile(re.escape(PARTIAL_TAG) + r"-(\d+)")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(destinations: list[Path], *, keep_live: bool = True) -> list[Path]:
    """Delete the hidden partial files (``.NAME.EXT.vsr-partial-PID``, and the older
    ``.NAME.vsr-partial-PID.EXT``) left beside ``destinations``.

    Args:
        destinations: the outputs a batch plans; only their own partials are touched.
        keep_live: leave partials whose writer pid is a running process on this machine
            (partials written by this process are always kept).

    Returns:
        The files removed.
    """
    removed = []
    by_dir: dict[Path, set[tuple[str, str]]] = {}
    for d in destinations:
        by_dir.setdefault(d.parent, set()).update({(d.name, ""), (d.stem, d.suffix)})
    for folder, names in by_dir.items():
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for f in entries:
            if not f.name.startswith(".") or PARTIAL_TAG not in f.name:
                continue
            m = _PARTIAL_PID.search(f.name)
            if m is None:
                continue
            stem, suffix = f.name[1 : m.start()], f.name[m.end():]
            if (stem, suffix) not in names:
                continue
            pid = int(m.group(1))
            if pid == os.getpid() or (keep_live and _alive(pid)):
                continue
            try:
                f.unlink()
                removed.append(f)
            except FileNotFoundError:
                pass
    return removed


@contextmanager
def atomic_output(dst: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path; on clean exit fsync it and rename it to ``dst``.

    On any exception (Ctrl-C included) the temporary file is removed and nothing
    appears at ``dst``. Without ``overwrite`` an existing ``dst`` is never replaced,
    even one created while the job ran.

    Raises:
        MediaError: the folder cannot be written, or writing failed for want of space, quota or
            file size (the message names ``dst``, never the temporary file).
    """
    tmp = partial_path(dst)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()
    except (FileExistsError, NotADirectoryError) as e:  # a file where a folder of the path should be
        raise MediaError(f"{dst}: cannot write there (a part of that path is a file, not a folder); choose "
                         "another output path") from e
    except OSError as e:
        raise MediaError(f"{dst}: cannot write there ({cause(e)}); choose a folder you can write to") from e
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, dst)
        else:
            try:
                os.link(tmp, dst)  # fails if dst appeared meanwhile: never clobber
            except FileExistsError:
                raise OutputExistsError(f"{dst}: appeared while vsr was writing; the result was discarded") from None
            except OSError:
                if dst.exists():
                    raise OutputExistsError(f"{dst}: already exists (use --overwrite to replace it)") from None
                os.replace(tmp, dst)
            tmp.unlink(missing_ok=True)
        _fsync_dir(dst.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.errno in _WRITE_ERRNOS or (e.filename is not None and public_name(str(e.filename)) == str(dst)):
            raise MediaError(os_error_message(e, dst)) from e
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a uniquely named temporary file in the same folder, are flushed to
    disk, and the file is renamed over ``path``; on any error the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    # os.open with 0o666 honours the umask (mkstemp would make it private to this user,
    # which breaks folders shared between users or machines)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
