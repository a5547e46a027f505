"""The batch API: plan many files, then run the plan (``vsr batch``, :func:`vsr.upscale_batch`)."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

from vsr.batch.plan import DEFAULT_TEMPLATE, BatchItem, check_template, find_sources, plan_items
from vsr.batch.progress import BatchReporter
from vsr.batch.report import FileResult
from vsr.batch.run import run_batch
from vsr.batch.state import JOURNAL_NAME, check_complete, read_journal
from vsr.config import UpscaleConfig
from vsr.errors import ModelError, UsageError
from vsr.target import Target, parse_target

__all__ = ["upscale_batch", "plan_batch", "available_scales"]

log = logging.getLogger(__name__)

def _merge(config: UpscaleConfig | None, options: dict[str, Any]) -> UpscaleConfig:
    from vsr.pipeline import merge_options

    return merge_options(config or UpscaleConfig(), options)


def available_scales(model: str) -> list[int]:
    """Scales with shipped weights for ``model``, ascending.

    Raises:
        ModelError: unknown model, or none shipped.
    """
    from vsr.models.weights import list_models

    from vsr.models.registry import check_architecture

    check_architecture(model)
    scales = sorted({s.scale for s in list_models() if s.name == model})
    if not scales:
        raise ModelError(f"no shipped weights for {model}")
    return scales


def plan_batch(
    inputs: Iterable[str | os.PathLike],
    outdir: str | os.PathLike,
    config: UpscaleConfig | None = None,
    *,
    target: Target | str | None = None,
    at_target: str = "skip",
    template: str = DEFAULT_TEMPLATE,
    container: str | None = None,
    **options: Any,
) -> list[BatchItem]:
    """What :func:`upscale_batch` would do, without doing it (``vsr batch --dry-run``).

    Existing complete outputs become ``skip`` items (see :func:`vsr.batch.state.check_complete`);
    an existing output that is not complete is a ``fail`` item unless ``overwrite``.
    Arguments are those of :func:`upscale_batch`.

    Raises:
        UsageError: bad target, template or at_target; ModelError: unknown model.
    """
    cfg = _merge(config, options)
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"{outdir}: is a file; -d needs a folder")
    if isinstance(target, str):
        try:
            target = parse_target(target)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if at_target not in ("skip", "copy"):
        raise UsageError(f"at_target must be skip or copy, not {at_target!r}")
    check_template(template)
    if container is not None:
        container = container.lower().lstrip(".")
    scales = available_scales(cfg.model.name) if target is not None else [cfg.model.scale]
    inputs = list(inputs)
    for arg in inputs:
        if Path(arg).is_dir() and outdir.exists() and os.path.samefile(arg, outdir):
            raise UsageError(f"{arg}: OUTDIR is this input folder; outputs would be taken as inputs on the next "
                             "run: choose another -d")
    sources, ignored = find_sources(inputs, outdir)
    if ignored:
        log.info("passed over %d file(s) that are not video", ignored)
    items = plan_items(sources, outdir, cfg, target=target, at_target=at_target, template=template,
                       container=container, scales=scales)
    journal = read_journal(outdir / JOURNAL_NAME)
    out = []
    for item in items:
        if item.action in ("upscale", "copy") and item.dst is not None and item.dst.exists() and not cfg.overwrite:
            if item.dst.is_dir():
                item = replace(item, action="fail", reason=f"{item.dst} is a folder")
            else:
                info = item.info
                expected = info.frames if info is not None and info.frames_exact else None
                complete, why = check_complete(item.source.input, item.dst, expected, journal,
                                               copy=item.action == "copy", options=dict(cfg.input_options),
                                               timeout=cfg.timeout, time_range=cfg.range)
                if complete:
                    item = replace(item, action="skip", reason=why, done_before=True)
                else:
                    item = replace(item, action="fail",
                                   reason=f"{item.dst} exists and is not a complete output of this input ({why}); "
                                          "remove it or use --overwrite")
        out.append(item)
    return out


def upscale_batch(
    inputs: Iterable[str | os.PathLike] | str | os.PathLike,
    outdir: str | os.PathLike,
    config: UpscaleConfig | None = None,
    *,
    target: Target | str | None = None,
    at_target: str = "skip",
    template: str = DEFAULT_TEMPLATE,
    container: str | None = None,
    jobs: int = 1,
    progress: BatchReporter | None = None,
    report: str | os.PathLike | None = None,
    ray: bool | str | None = None,
    ray_options: dict[str, Any] | None = None,
    **options: Any,
) -> list[FileResult]:
    """Upscale many videos into ``outdir``; resumable, one bad file never stops the rest.

    Args:
        inputs: files, folders (searched recursively; videos recognised by probing), glob
            patterns and URLs (``http://``, ``rtsp://`` ...: one output each, named from the URL,
            see :func:`vsr.batch.plan.url_name`). Outputs mirror the folder layout under ``outdir``.
        outdir: where outputs, the journal and the lock go.
        config: as for :func:`vsr.upscale_video`; keyword ``options`` override its fields
            (``model``, ``scale``, ``backend``, ``device``, ``codec``, ``crf``, ``overwrite`` ...).
        target: ``"2160p"``, ``"1080p"``, ``"WxH"`` ... instead of a fixed scale (see :mod:`vsr.target`).
        at_target: files already at or above ``target``: ``skip`` (default) or ``copy``.
        template: output file name, with ``{stem}``, ``{name}``, ``{ext}``, ``{model}``,
            ``{scale}``, ``{width}``, ``{height}``, ``{target}``, ``{root}``.
        container: output container suffix (``mkv``, ``mp4`` ...); default: the input's.
        jobs: files at once, sharing one loaded backend.
        progress: a reporter from :func:`vsr.batch.progress.make_batch_reporter`.
        report: write a JSON report there.
        ray: run on Ray (True: local or already initialised; a string: cluster address).
        ray_options: ``num_cpus``, ``num_gpus``, ``max_retries`` per task.

    Returns:
        One :class:`FileResult` per input file, in input order.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    cfg = _merge(config, options)
    items = plan_batch(list(inputs), outdir, cfg, target=target, at_target=at_target, template=template,
                       container=container)
    return run_batch(items, outdir, jobs=jobs, progress=progress, report=report, ray=ray, ray_options=ray_options)
