"""Sub-commands of ``python -m profiler``."""
