"""Where archprof's files live: the checkout root, the user cache, and the layout of a run directory.

Every path below is built here and only here, so that a reader and a writer of one file cannot disagree:

- the checkout root (it holds ``profiler/``, ``models/`` and ``experiments/``);
- the cache: ``$ARCHPROF_CACHE`` if set, else ``~/.cache/archprof`` (ONNX graphs ``onnx/``, measured peaks
  ``peaks/``, op tables ``optables/``, counts of imports and of the estimate ``counts/``);
- a run directory: ``meta.json``, and ``counts/<spec_hash>_r<res>.json`` with its per-op table
  ``counts/<spec_hash>_r<res>.ops.json`` (one per spec and resolution, ``count_key``).

>>> count_key("abc", 224), ops_path("run", "abc", 224).as_posix()
('abc_r224', 'run/counts/abc_r224.ops.json')
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS_DIR = PROJECT_ROOT / "experiments"  # the shipped sweep files

CACHE_ENV = "ARCHPROF_CACHE"  # the cache root's environment variable (a Ray job forwards it to its workers)
META_NAME = "meta.json"  # a run's environment, config and sessions (written by ResultStore, read by RunMeta)
COUNTS_DIR = "counts"  # a run's counts per (spec, resolution)


def cache_root() -> Path:
    """``$ARCHPROF_CACHE`` if set (and not empty), else ``~/.cache/archprof``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root) if root else Path.home() / ".cache" / "archprof"


def cache_dir(kind: str) -> Path:
    """One kind of cached file under the cache root (``onnx``, ``peaks``, ``optables``, ``counts``)."""
    return cache_root() / kind


def meta_path(run_dir: Path | str) -> Path:
    """A run's ``meta.json``."""
    return Path(run_dir) / META_NAME


def count_key(spec_hash: str, resolution: int) -> str:
    """The name of one (spec, resolution)'s count files: ``<spec_hash>_r<res>`` (a float resolution from a
    DataFrame column, e.g. 224.0, names the same file as 224)."""
    if isinstance(resolution, float) and resolution.is_integer():
        resolution = int(resolution)
    return f"{spec_hash}_r{resolution}"


def counts_dir(run_dir: Path | str) -> Path:
    """A run's ``counts/`` folder."""
    return Path(run_dir) / COUNTS_DIR


def count_file(directory: Path | str, key: str) -> Path:
    """``<key>.json`` (macs, params, acts, ...) in a counts folder (a run's ``counts/`` or the cache's)."""
    return Path(directory) / f"{key}.json"


def ops_file(directory: Path | str, key: str) -> Path:
    """``<key>.ops.json`` (the per-op table, ``counting.ops.op_table_doc``) in a counts folder."""
    return Path(directory) / f"{key}.ops.json"


def ops_files(run_dir: Path | str) -> list[Path]:
    """Every per-op table a run holds, sorted by name."""
    return sorted(counts_dir(run_dir).glob(ops_file("", "*").name))


def ops_path(run_dir: Path | str, spec_hash: str, resolution: int) -> Path:
    """A run's per-op table of one (spec, resolution): ``<run>/counts/<spec_hash>_r<res>.ops.json``."""
    return ops_file(counts_dir(run_dir), count_key(spec_hash, resolution))
