"""Resuming a sweep: which config a run continues with, and the checks before a session adds rows to it.

``profiler sweep --resume ID`` calls ``resume_config``; ``sweep.run_sweep(resume=True)`` calls ``open_for_resume``.
Both read ``meta.json`` through ``profiler.results.runs.RunMeta`` (its one reader).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from profiler.core.errors import UsageError
from profiler.results.runs import RunMeta
from profiler.results.store import ResultStore

if TYPE_CHECKING:
    from profiler.sweep.config import SweepConfig


def resume_config(run_dir: Path | str, config_path: Path | str | None = None) -> SweepConfig:
    """The config to resume ``run_dir`` with: the file ``config_path`` if given, else the text its meta records.

    A foreign or corrupt run directory, or an unreadable ``meta.json``, is a UsageError either way.
    """
    from profiler.sweep.config import load_config, parse_config

    run_dir = Path(run_dir)
    with ResultStore.open(run_dir, read_only=True):  # foreign or corrupt → UsageError (exit 2)
        meta = RunMeta.read(run_dir)
    if config_path is not None:
        return load_config(config_path)
    if meta.config_text is None:
        raise UsageError(f"{run_dir}/meta.json holds no sweep config; pass --config FILE")
    return parse_config(meta.config_text, meta.config_path or "<meta.json>")


def open_for_resume(run_dir: Path | str, config: SweepConfig, device: str) -> tuple[ResultStore, RunMeta]:
    """The store of ``run_dir`` and its meta, once the run can take more rows of ``config`` on ``device``.

    Refused (UsageError): a merge of several runs, a run of another config text or of another device.
    """
    run_dir = Path(run_dir)
    store = ResultStore.open(run_dir)
    try:
        meta = RunMeta.read(run_dir)
        if meta.raw.get("merged_from"):
            raise UsageError(f"{run_dir} is a merge of several runs (profiler merge); resume a source run instead")
        if meta.config_text is not None and meta.config_text != config.text:
            raise UsageError(f"{run_dir} was measured with a different config text; resume needs the same config")
        if meta.device not in (None, device):
            raise UsageError(f"{run_dir} was measured on {meta.device}; resume it with --device {meta.device}")
    except BaseException:
        store.close()
        raise
    return store, meta
