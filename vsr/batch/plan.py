"""Batch planning: which files the inputs name, where each output goes, and what to do with each.

Pure of side effects: nothing here writes a file (``vsr batch --dry-run`` prints this plan).
"""

from __future__ import annotations

import glob
import os
import re
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from vsr.config import UpscaleConfig
from vsr.errors import UsageError, VsrError
from vsr.target import Target, TargetPlan, plan_target

if TYPE_CHECKING:  # PyAV is imported when a file is probed, not when the CLI is built
    from vsr.media.probe import VideoInfo

__all__ = ["Source", "BatchItem", "find_sources", "plan_items", "apply_target", "render_name", "check_template",
           "describe", "url_name", "VIDEO_SUFFIXES", "CONTAINERS", "DEFAULT_TEMPLATE"]

DEFAULT_TEMPLATE = "{stem}.{ext}"

# Files with these suffixes found in a folder are taken even when they do not probe as
# video (so a broken one is reported, not silently passed over). Others are taken only
# when FFmpeg reads them as video.
VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mkv .mov .webm .avi .ts .m2ts .mts .mpg .mpeg .vob .flv .wmv .asf .3gp .mxf .y4m "
    ".ogv .dv .nut .f4v .rm .rmvb .divx".split()
)
# Output containers vsr writes (FFmpeg picks the muxer from the suffix).
CONTAINERS = ("mkv", "mp4", "mov", "m4v", "webm", "avi", "ts", "m2ts", "mts", "flv", "nut")

_FIELDS = {"stem": "clip", "name": "clip.mp4", "ext": "mkv", "model": "espcn", "scale": 2, "width": 3840,
           "height": 2160, "target": "2160p", "root": "root"}


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


@dataclass(frozen=True)
class BatchItem:
    """The plan for one source.

    Attributes:
        source: the input.
        dst: output file (None when the input failed before a name could be made).
        action: ``upscale``, ``copy`` (already at the target, copied), ``skip`` or ``fail``.
        reason: why it is skipped or failed, or a note (e.g. the target is not reached by the model).
        info: the probed input (None when it cannot be read).
        config: the job's configuration (model scale and exact output size filled in).
        output_size: expected output ``(width, height)`` (stored frame).
        done_before: the output exists and is complete (an earlier run made it): skipped.
    """

    source: Source
    dst: Path | None
    action: str
    reason: str = ""
    info: VideoInfo | None = None
    config: UpscaleConfig | None = None
    output_size: tuple[int, int] | None = None
    done_before: bool = False

    @property
    def name(self) -> str:
        """The input as people should read it in reports (a URL as given)."""
        return self.source.url or str(self.source.path)


def _walk(folder: Path, skip: Path | None) -> Iterable[Path]:
    """Files under ``folder``, recursively, sorted, hidden entries and ``skip`` (OUTDIR) left out."""
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and (skip is None or not _same(here / d, skip)))
        for f in sorted(filenames):
            if not f.startswith("."):
                yield here / f


def _same(a: Path, b: Path) -> bool:
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


def check_template(template: str) -> None:
    """Raise :class:`UsageError` unless ``template`` renders to a relative file name."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        unknown = sorted(f for f in fields if f.split(".")[0].split("[")[0] not in _FIELDS)
        if unknown:
            raise UsageError(f"--template {template!r}: unknown field(s) {', '.join(unknown)}; "
                             f"use {', '.join('{' + k + '}' for k in _FIELDS)}")
        name = template.format(**_FIELDS)
    except (ValueError, IndexError, KeyError, AttributeError) as e:
        raise UsageError(f"--template {template!r}: {e}") from None
    p = Path(name)
    if not name or p.is_absolute() or ".." in p.parts or name.endswith(("/", os.sep)):
        raise UsageError(f"--template {template!r}: must give a file name inside OUTDIR (got {name!r})")


def render_name(template: str, source: Source, ext: str, config: UpscaleConfig | None,
                output_size: tuple[int, int] | None, target: Target | None) -> Path:
    """Output path relative to OUTDIR: ``source.rel.parent / template(fields)``."""
    w, h = output_size or (0, 0)
    name = template.format(
        stem=source.path.stem, name=source.path.name, ext=ext,
        model=config.model.name if config else "", scale=config.model.scale if config else 0,
        width=w, height=h, target=str(target) if target else "", root=source.root,
    )
    return source.rel.parent / name


def _container_ext(src: Path, container: str | None) -> str:
    if container:
        return container
    ext = src.suffix.lower().lstrip(".")
    return ext if ext in CONTAINERS else "mkv"


def plan_items(
    sources: list[Source],
    outdir: Path,
    config: UpscaleConfig,
    *,
    target: Target | None = None,
    at_target: str = "skip",
    template: str = DEFAULT_TEMPLATE,
    container: str | None = None,
    scales: Iterable[int] = (),
) -> list[BatchItem]:
    """Probe each source and decide its model scale, exact size, output path and action.

    Args:
        config: the job configuration; ``config.model.scale`` is used unless ``target`` is set.
        target: a target resolution; the model scale comes from ``scales``.
        at_target: for sources already at or above ``target``: ``skip`` or ``copy``.
        container: output container (suffix without the dot); None: the input's own
            when vsr writes it, else ``mkv``. Copies keep the input's suffix.
        scales: the model scales available for ``config.model.name`` (needed with ``target``).

    Does not look at existing outputs (see :mod:`vsr.batch.state`); marks a second
    source whose output path collides with an earlier one as failed.
    """
    items: list[BatchItem] = []
    taken: dict[Path, BatchItem] = {}
    for src in sources:
        item = _plan_one(src, outdir, config, target, at_target, template, container, scales)
        if item.dst is not None and item.action in ("upscale", "copy"):
            key = Path(os.path.abspath(item.dst))
            if key in taken:
                item = replace(item, action="fail",
                               reason=f"same output as {taken[key].name}; choose a --template that tells them apart")
            elif src.url is None and _same(item.dst, src.path):
                item = replace(item, action="fail", reason="the output would overwrite the input; choose another -d")
            else:
                taken[key] = item
        items.append(item)
    return items


def apply_target(info: VideoInfo, config: UpscaleConfig, target: Target,
                 scales: Iterable[int]) -> tuple[UpscaleConfig, TargetPlan, str]:
    """``config`` with the model scale and exact output size that bring ``info`` to ``target``.

    Returns:
        The new config, the :class:`~vsr.target.TargetPlan`, and a note for people ("" if
        none): the source is already at or above the target, or no model scale reaches it.
    """
    log2 = (0, 0) if info.gray else info.log2_chroma
    if config.encode.pix_fmt:  # the encoder's format may subsample more than the source
        from vsr.media.formats import planar_format

        out = planar_format(config.encode.pix_fmt).log2_chroma
        log2 = (max(log2[0], out[0]), max(log2[1], out[1]))
    plan = plan_target(info.width, info.height, target, scales, sar=info.sample_aspect_ratio,
                       rotation=info.rotation, log2_chroma=log2)
    cfg = replace(config, model=replace(config.model, scale=plan.scale), size=plan.size)
    note = ""
    if plan.at_target:
        w, h = info.display_size
        note = f"already {w}x{h}, at or above {target}"
    elif not plan.reached:
        note = f"x{plan.scale} (the largest {config.model.name} scale) does not reach {target}: bicubic does the rest"
    return cfg, plan, note


def _plan_one(src: Source, outdir: Path, config: UpscaleConfig, target: Target | None, at_target: str,
              template: str, container: str | None, scales: Iterable[int]) -> BatchItem:
    from vsr.media.probe import probe

    if src.error:
        return BatchItem(src, None, "fail", src.error)
    try:
        info = probe(src.input, dict(config.input_options), config.timeout)
    except VsrError as e:
        dst = outdir / render_name(template, src, _container_ext(src.path, container), config, None, target)
        return BatchItem(src, dst, "fail", str(e))
    cfg = config
    reason = ""
    action = "upscale"
    if target is None:
        s = config.model.scale
        size = config.size or (info.width * s, info.height * s)
    else:
        cfg, plan, reason = apply_target(info, config, target, scales)
        size = plan.size
        if plan.at_target:
            action = "copy" if at_target == "copy" and src.url is None else "skip"
            if src.url is not None and at_target == "copy":
                reason += " (a URL is not copied)"
            size = (info.width, info.height)
    if action == "upscale" and cfg.model.weights == "auto":  # one weight set per file, from its rate
        from vsr.models.choice import choose_weights

        weights = choose_weights(cfg.model.name, cfg.model.scale, "auto", info.codec, info.bits_per_pixel)
        cfg = replace(cfg, model=replace(cfg.model, weights=weights))
    ext = src.path.suffix.lower().lstrip(".") if action == "copy" else _container_ext(src.path, container)
    dst = outdir / render_name(template, src, ext, cfg, size, target)
    if action == "copy" and dst.suffix.lower() != src.path.suffix.lower():
        dst = dst.with_suffix(src.path.suffix)
    return BatchItem(src, dst, action, reason, info, cfg, size)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def describe(item: BatchItem) -> str:
    """One line of ``vsr batch --dry-run``: the input, its size, what will be done, the output."""
    parts = [item.name]
    info = item.info
    if info is not None:
        shown = info.display_size
        what = f"{info.width}x{info.height}"
        if shown != (info.width, info.height):
            what += f" (shown {shown[0]}x{shown[1]})"
        frames = f"{info.frames or '?'} frames"
        rng = item.config.range if item.config is not None and item.action == "upscale" else None
        if rng is not None:  # the range's share, estimated
            frames = f"{rng.frames_in(info.frames, info.frame_rate, info.duration) or '?'} of {frames}"
        what += f", {frames}" + ("" if item.source.url else f", {_bytes(info.size_bytes)}")
        parts.append(what)
    if item.action == "upscale":
        w, h = item.output_size
        cfg = item.config
        parts.append(f"{cfg.model.name} x{cfg.model.scale} -> {w}x{h} -> {item.dst}  [{cfg.model.weights} weights"
                     + (f", {cfg.range}]" if cfg.range else "]"))
    elif item.action == "copy":
        parts.append(f"copy -> {item.dst}")
    elif item.action == "skip":
        parts.append(f"skip -> {item.dst}")
    else:
        parts.append("FAIL")
    line = ": ".join(parts[:2]) + ("  " + "  ".join(parts[2:]) if len(parts) > 2 else "")
    return line + (f"  ({item.reason})" if item.reason else "")
