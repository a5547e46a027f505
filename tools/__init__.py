"""Developer tools for vsr: training, evaluation, benchmarks, graph export.

Not part of the installed distribution. Run each one as a module from the repository root,
so the tools import ``vsr`` and each other as packages::

    python -m tools.train --model espcn --scale 2
    python -m tools.evaluate --model espcn --scale 2
    python -m tools.bench ../shared/data/video/bikes.mp4

Third-party images and clips are found under one data root (:mod:`tools.paths`):
``--data-root DIR``, else ``$VSR_DATA_ROOT``, else ``../shared/data`` beside the repository.
"""
