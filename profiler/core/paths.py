"""Where archprof's files live: the checkout root (it holds ``profiler/``, ``models/`` and ``experiments/``)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"  # the shipped sweep files
