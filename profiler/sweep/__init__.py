"""Sweeps: the config, the plan, the budget and its estimate, the run and its resume; ``exec`` runs the tasks.

``plan`` is importable from here as it was before the package layout (``from profiler.sweep import plan``), lazily,
so that importing ``profiler.sweep.config`` does not import the whole sweep.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "plan":
        from profiler.sweep.run import plan

        return plan
    raise AttributeError(f"module 'profiler.sweep' has no attribute {name!r}")
