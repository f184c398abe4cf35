"""Resuming a sweep: which config a run continues with, and the checks before a session adds rows to it.

``profiler sweep --resume ID`` opens the run once (``open_resume``: its store, and its ``meta.json`` read through
``profiler.results.runs.RunMeta``, the one reader), takes its config (``config_from_meta``) and hands the
``Resumed`` run to the plan and to ``sweep.run_sweep``, which checks it (``check_resumable``) before adding rows.
``resume_config`` and ``open_for_resume`` do the same steps for one caller each (the library, tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from profiler.core.errors import UsageError
from profiler.results.runs import RunMeta
from profiler.results.store import ResultStore

if TYPE_CHECKING:
    from profiler.sweep.config import SweepConfig


@dataclass
class Resumed:
    """A run being resumed: its store (open; read-only for a dry run) and its ``meta.json`` (read once)."""

    run_dir: Path
    store: ResultStore
    meta: RunMeta

    def close(self) -> None:
        """Close the store (again is harmless: ``run_sweep`` closes it when its session ends)."""
        self.store.close()

    def __enter__(self) -> Resumed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_resume(run_dir: Path | str, *, read_only: bool = False) -> Resumed:
    """Open ``run_dir``'s store and read its meta, once each. A foreign or corrupt run directory, or an unreadable
    ``meta.json``, is a UsageError."""
    run_dir = Path(run_dir)
    store = ResultStore.open(run_dir, read_only=read_only)  # foreign or corrupt → UsageError (exit 2)
    try:
        meta = RunMeta.read(run_dir)
    except BaseException:
        store.close()
        raise
    return Resumed(run_dir, store, meta)


def config_from_meta(run_dir: Path | str, meta: RunMeta, config_path: Path | str | None = None) -> SweepConfig:
    """The config to resume with: the file ``config_path`` if given, else the text ``meta`` records."""
    from profiler.sweep.config import load_config, parse_config

    if config_path is not None:
        return load_config(config_path)
    if meta.config_text is None:
        raise UsageError(f"{run_dir}/meta.json holds no sweep config; pass --config FILE")
    return parse_config(meta.config_text, meta.config_path or "<meta.json>")


def check_resumable(run_dir: Path | str, meta: RunMeta, config: SweepConfig, device: str) -> None:
    """UsageError unless the run can take more rows of ``config`` on ``device``: a merge of several runs, a run
    of another config text or of another device is refused."""
    if meta.raw.get("merged_from"):
        raise UsageError(f"{run_dir} is a merge of several runs (profiler merge); resume a source run instead")
    if meta.config_text is not None and meta.config_text != config.text:
        raise UsageError(f"{run_dir} was measured with a different config text; resume needs the same config")
    if meta.device not in (None, device):
        raise UsageError(f"{run_dir} was measured on {meta.device}; resume it with --device {meta.device}")


def resume_config(run_dir: Path | str, config_path: Path | str | None = None) -> SweepConfig:
    """The config to resume ``run_dir`` with (``config_from_meta``), its store opened read-only to check it."""
    with open_resume(run_dir, read_only=True) as resumed:
        return config_from_meta(resumed.run_dir, resumed.meta, config_path)


def open_for_resume(run_dir: Path | str, config: SweepConfig, device: str) -> tuple[ResultStore, RunMeta]:
    """The store of ``run_dir`` and its meta, once the run can take more rows of ``config`` on ``device``."""
    resumed = open_resume(run_dir)
    try:
        check_resumable(resumed.run_dir, resumed.meta, config, device)
    except BaseException:
        resumed.close()
        raise
    return resumed.store, resumed.meta
