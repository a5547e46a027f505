"""Run a batch's files as Ray tasks (``vsr batch --ray [ADDRESS]``, ``pip install vsr[ray]``).

The driver (the ``vsr batch`` process) plans, holds the OUTDIR lock, writes the journal
and the report; each file is one task that runs :func:`vsr.batch.run_item` on a worker.
Outputs go straight to the shared destination under a hidden partial name and are
renamed when complete, exactly as locally, so every node must see the inputs and OUTDIR
at the same absolute paths (a shared mount). A worker keeps its loaded backends between
the tasks it runs. A task whose worker dies (killed, out of memory, node lost) is run
again up to ``max_retries`` times; a task that fails on a bad input is not retried.

Ray is imported only here, only when asked for.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from vsr.errors import BackendError

__all__ = ["run_ray"]

log = logging.getLogger(__name__)

_POOL = None  # per worker process: the backends it has loaded


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendError("--ray needs Ray: pip install 'vsr[ray]' (or pip install 'ray[default]')") from None
    return ray


def _task(item: Any) -> Any:
    """Runs on a Ray worker: one file, with this worker's shared backends."""
    global _POOL
    from vsr.batch import BackendPool, run_item

    if _POOL is None:
        _POOL = BackendPool()
    return run_item(item, _POOL)


def _absolute(item: Any) -> Any:
    """The item with absolute paths (workers do not run in the driver's working directory)."""
    src = replace(item.source, path=Path(item.source.path).resolve())
    return replace(item, source=src, dst=Path(item.dst).resolve() if item.dst is not None else None)


def run_ray(
    items: list[tuple[int, Any]],
    on_result: Callable[[int, Any], None],
    *,
    address: str | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    max_retries: int = 3,
) -> None:
    """Run ``(index, BatchItem)`` pairs as Ray tasks; ``on_result(index, FileResult)`` as each ends.

    Args:
        address: Ray cluster to join (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``);
            None: the Ray already initialised in this process, else a new local one.
        num_cpus, num_gpus: resources each task asks for (fractions allowed: ``num_gpus=0.25``
            runs four files per GPU).
        max_retries: how many times a task is run again when its worker dies.
    """
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"address": address} if address else {"include_dashboard": False}
        ray.init(**kwargs)
        started = True
    elif address:
        log.info("Ray is already initialised in this process; using it, not %s", address)
    from vsr.batch import FileResult

    remote = ray.remote(_task).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
                                       retry_exceptions=False)
    pending: dict[Any, tuple[int, Any]] = {}
    try:
        for index, item in items:
            pending[remote.remote(_absolute(item))] = (index, item)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in done:
                index, item = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:  # worker died more than max_retries times, node lost ...
                    result = FileResult(input=item.name, output=str(item.dst), status="failed",
                                        reason=f"Ray task failed: {type(e).__name__}: {str(e).splitlines()[0]}",
                                        action=item.action)
                result.input = item.name
                result.output = str(item.dst) if item.dst is not None else None
                on_result(index, result)
    except BaseException:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while stopping
                pass
        raise
    finally:
        if started:
            ray.shutdown()
