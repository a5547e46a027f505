"""Many files: plan, skip what is done, run N jobs on one shared backend, journal, report.

::

    inputs ─► plan.find_sources ─► plan.plan_items (probe, target, names) ─► api.plan_batch
                                                        (skip complete outputs: state.check_complete)
                                                                                │
        OUTDIR lock, stale partials removed, journal (state) ◄── run.run_batch ◄┘
                                                                   │ jobs threads sharing pool.BackendPool,
                                                                   │ or Ray tasks (ray.run_ray)
                                                                   ▼
                                            job.run_item ─► report.FileResult per input ─► report JSON

Modules: ``api`` (the entry points), ``plan``, ``run`` (local threads), ``ray``, ``job`` (one
file), ``state`` (journal, lock, partials), ``pool`` (shared backends), ``report``,
``progress`` (bars and plain/json lines). Nothing here imports the CLI.
"""

from vsr.batch.api import available_scales, plan_batch, upscale_batch
from vsr.batch.job import run_item
from vsr.batch.pool import BackendPool
from vsr.batch.report import FileResult, summarize, summary_lines, write_report
from vsr.batch.run import run_batch

__all__ = ["FileResult", "BackendPool", "upscale_batch", "plan_batch", "run_batch", "run_item", "available_scales",
           "write_report", "summarize", "summary_lines"]
