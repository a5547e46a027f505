"""Batch inputs: the files, folders, globs and URLs a batch names, each found as a :class:`Source`.

Pure of side effects: nothing here writes a file.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

__all__ = ["Source", "find_sources", "url_name", "same_file", "VIDEO_SUFFIXES"]

# Files with these suffixes found in a folder are taken even when they do not probe as
# video (so a broken one is reported, not silently passed over). Others are taken only
# when FFmpeg reads them as video.
VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mkv .mov .webm .avi .ts .m2ts .mts .mpg .mpeg .vob .flv .wmv .asf .3gp .mxf .y4m "
    ".ogv .dv .nut .f4v .rm .rmvb .divx".split()
)

@dataclass(frozen=True)
class Source:
    """One file the inputs name.

    Attributes:
        path: the file, as found.
        rel: where it sits relative to the folder or pattern base it was found under
            (just its name for a file argument); outputs mirror ``rel.parent``.
        root: name of the folder argument it was found under ("" otherwise).
        error: why this argument names no file (the path then is the argument itself).
        url: the URL this source reads (``http://``, ``rtsp://``, ``tcp://`` ...); ``path`` and
            ``rel`` are then the name made from it (see :func:`url_name`), not a file.
    """

    path: Path
    rel: Path
    root: str = ""
    error: str | None = None
    url: str | None = None

    @property
    def input(self) -> str | Path:
        """What to open: the URL, or the file."""
        return self.url if self.url is not None else self.path


def _walk(folder: Path, skip: Path | None) -> Iterable[Path]:
    """Files under ``folder``, recursively, sorted, hidden entries and ``skip`` (OUTDIR) left out."""
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and (skip is None or not same_file(here / d, skip)))
        for f in sorted(filenames):
            if not f.startswith("."):
                yield here / f


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (False when either cannot be resolved)."""
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _looks_like_video(path: Path) -> bool:
    from vsr.media.probe import is_video

    return path.suffix.lower() in VIDEO_SUFFIXES or is_video(path)


def _glob_base(pattern: str) -> Path:
    parts = Path(pattern).parts
    base: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        base.append(part)
    return Path(*base) if base else Path(".")


def find_sources(inputs: Iterable[str | Path], outdir: Path | None = None) -> tuple[list[Source], int]:
    """Expand file, folder and glob arguments into sources, in argument order.

    Folders are searched recursively (hidden files and folders and ``outdir`` left out);
    a file in them is taken when FFmpeg reads it as video or its suffix is a video one.
    Files named directly or matched by a pattern are always taken. The same file named
    twice is taken once. An argument that names nothing becomes a source with ``error``.

    Returns:
        The sources and how many files in folders were passed over as not video.
    """
    from vsr.media.decode import is_url

    out: list[Source] = []
    seen: set[Path] = set()
    seen_urls: set[str] = set()
    ignored = 0

    def add(src: Source) -> None:
        key = src.path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(src)

    for arg in inputs:
        if is_url(str(arg)):
            if str(arg) not in seen_urls:
                seen_urls.add(str(arg))
                name = url_name(str(arg))
                out.append(Source(Path(name), Path(name), url=str(arg)))
            continue
        p = Path(arg)
        if p.is_file():
            add(Source(p, Path(p.name)))
        elif p.is_dir():
            for f in _walk(p, outdir):
                if _looks_like_video(f):
                    add(Source(f, f.relative_to(p), p.resolve().name))
                else:
                    ignored += 1
        elif glob.has_magic(str(arg)):
            base = _glob_base(str(arg))
            matches = sorted(Path(m) for m in glob.glob(str(arg), recursive=True))
            files = [m for m in matches if m.is_file() and not m.name.startswith(".")
                     and not (outdir is not None and _inside(m, outdir))]
            if not files:
                out.append(Source(p, Path(p.name), error="the pattern matches no file"))
            for f in files:
                add(Source(f, f.relative_to(base) if _inside(f, base) else Path(f.name)))
        else:
            out.append(Source(p, Path(p.name), error="no such file or folder"))
    return _unique_url_names(out), ignored


_UNSAFE = re.compile(r"[^\w.\-]+")


def url_name(url: str) -> str:
    """A file name for a URL's output: its last path component (query and fragment left
    out), else its host and port (``cam1_554``; dots in the host become dashes), made safe:
    characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``, and no
    leading dot or dash. The suffix stays (the container rule replaces it later).
    """
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    name = unquote(parts.path.rstrip("/").rpartition("/")[2])
    if not name:
        host = (parts.hostname or "").replace(".", "-")
        try:
            port = parts.port
        except ValueError:
            port = None
        name = "_".join(str(x) for x in (host or parts.scheme, port) if x)
    name = _UNSAFE.sub("_", name).lstrip(".-_")[:120]
    return name or parts.scheme or "stream"


def _unique_url_names(sources: list[Source]) -> list[Source]:
    """URL sources renamed ``NAME-2``, ``NAME-3`` ... where their stem is already taken (by a
    file at the top of OUTDIR or an earlier URL), so that each URL gets its own output."""
    taken = {s.path.stem.lower() for s in sources if s.url is None and s.rel.parent == Path(".")}
    out = []
    for s in sources:
        if s.url is not None:
            stem, suffix, n = s.path.stem, s.path.suffix, 1
            while (stem if n == 1 else f"{stem}-{n}").lower() in taken:
                n += 1
            if n > 1:
                name = f"{stem}-{n}{suffix}"
                s = replace(s, path=Path(name), rel=Path(name))
            taken.add(s.path.stem.lower())
        out.append(s)
    return out


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
