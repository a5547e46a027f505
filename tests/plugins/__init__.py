"""Plug-ins written the way a third party would: a backend for a new device kind and a third
architecture, each one file; tests/test_plugins.py registers them with one line each."""
