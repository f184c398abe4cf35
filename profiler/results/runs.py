"""A run has one shape: ``open_run(arg) -> Run`` with its path, its rows and its ``RunMeta``.

``RunMeta`` (``profiler.results.meta``, imported here) is the one reader of ``meta.json``; its docstring gives the
layout. ``partial_run_note`` says when a run's sweep stopped early and how to go on.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler.core import paths
from profiler.core.errors import UsageError
from profiler.results.meta import RunMeta
from profiler.results.store import ResultStore, load_results, resolve_run

if TYPE_CHECKING:
    import pandas as pd


class Run:
    """A run directory, or a CSV/Parquet export (with the meta of the run directory it sits in, if any)."""

    def __init__(self, path: Path, meta: RunMeta) -> None:
        self.path = path
        self.meta = meta

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def is_dir(self) -> bool:
        """True for a run directory, False for an export file."""
        return self.path.is_dir()

    @functools.cached_property
    def rows(self) -> pd.DataFrame:
        """The store's rows (``store.load_results``), read on first use."""
        return load_results(self.path)

    @property
    def name(self) -> str:
        """The sweep config's name, else its file's stem, else the run directory's (or file's) name."""
        name = self.meta.config_name
        if not name:
            path = self.meta.config_path
            name = Path(str(path)).stem if path else self.path.stem
        return str(name)


def open_run(arg: Path | str, results_dir: Path | str = "results", *, strict_meta: bool = True) -> Run:
    """A run from a path, a run id under ``results_dir`` or ``latest`` (``store.resolve_run``), or an export.

    A directory must hold an archprof store (UsageError otherwise, as ``ResultStore.open``); its ``meta.json``
    must parse unless ``strict_meta`` is False. An export file takes the meta of the directory it sits in, if any.
    """
    path = resolve_run(arg, results_dir)
    if path.is_dir():
        # A foreign or corrupt directory: UsageError now, not at first read.
        ResultStore.open(path, read_only=True).close()
        return Run(path, RunMeta.read(path, strict=strict_meta))
    if not path.is_file():
        raise UsageError(f"{path} does not exist (expected a run directory, a .csv or a .parquet file)")
    return Run(path, RunMeta.read(path.parent, strict=False))


def partial_run_note(run: Run) -> str | None:
    """'run X is partial (...); resume it with: ...' when a run directory holds fewer rows than its last session
    planned, or its last session was interrupted or never recorded (a killed sweep); None otherwise."""
    if not run.is_dir:
        return None
    session = run.meta.last_session
    stored = len(run.rows)
    resume = f"python -m profiler sweep --resume {run.path.name if run.path.parent == Path('results') else run.path}"
    if session is None:
        if not run.meta.run:
            return None
        return (f"run {run.path.name} is partial: its sweep never finished a session ({stored} measurements "
                f"stored); resume it with: {resume}")
    planned = int(session.get("planned") or 0)
    if stored >= planned and not session.get("interrupted"):
        return None
    why = "interrupted, " if session.get("interrupted") else ""
    return (f"run {run.path.name} is partial ({why}{stored} of {planned} planned measurements stored); resume it "
            f"with: {resume}")
