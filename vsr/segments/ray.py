"""The Ray runner for segments lives here: ``vsr upscale IN -o OUT --segments N --ray [ADDRESS]``
runs each segment as a Ray task (through :func:`vsr.segments.part.run_part`), retries a
segment whose worker died, and leaves the verify-and-join to the driver. ``vsr batch --ray``
splits long files into segment tasks through it too.

(Owned by the ``farm`` helper, issue 20: work in progress.)
"""
