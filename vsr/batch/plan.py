"""Batch planning: which files the inputs name, where each output goes, and what to do with each.

Pure of side effects: nothing here writes a file (``vsr batch --dry-run`` prints this plan).
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from vsr.batch.sources import VIDEO_SUFFIXES, Source, find_sources, same_file, url_name  # noqa: F401  (re-exported)
from vsr.config import UpscaleConfig
from vsr.errors import UsageError, VsrError
from vsr.models import DEFAULT_MODEL
from vsr.target import Target, TargetPlan, plan_target

if TYPE_CHECKING:  # PyAV is imported when a file is probed, not when the CLI is built
    from vsr.media.probe import VideoInfo

__all__ = ["Source", "BatchItem", "find_sources", "plan_items", "apply_target", "render_name", "check_template",
           "describe", "url_name", "VIDEO_SUFFIXES", "CONTAINERS", "DEFAULT_TEMPLATE"]

DEFAULT_TEMPLATE = "{stem}.{ext}"

# Output containers vsr writes (FFmpeg picks the muxer from the suffix).
CONTAINERS = ("mkv", "mp4", "mov", "m4v", "webm", "avi", "ts", "m2ts", "mts", "flv", "nut")

_FIELDS = {"stem": "clip", "name": "clip.mp4", "ext": "mkv", "model": DEFAULT_MODEL, "scale": 2, "width": 3840,
           "height": 2160, "target": "2160p", "root": "root"}


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

    Raises:
        UsageError: ``copy`` with a time range (a copy is the whole file); a ``container`` that
            cannot carry the encoder's video.
    """
    if target is not None and at_target == "copy" and config.range is not None:
        raise UsageError("--at-target copy copies whole files, not a --start/--end/--duration range; use "
                         "--at-target skip, or no range")
    if container:  # every job would fail at its start: refuse the batch before the first
        from vsr.media.containers import check_codec_fits, muxer_for

        check_codec_fits(config.encode.codec, muxer_for(Path(f"x.{container}")))
    items: list[BatchItem] = []
    taken: dict[Path, BatchItem] = {}
    for src in sources:
        item = _plan_one(src, outdir, config, target, at_target, template, container, scales)
        if item.dst is not None and item.action in ("upscale", "copy"):
            key = Path(os.path.abspath(item.dst))
            if key in taken:
                item = replace(item, action="fail",
                               reason=f"same output as {taken[key].name}; choose a --template that tells them apart")
            elif src.url is None and same_file(item.dst, src.path):
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
