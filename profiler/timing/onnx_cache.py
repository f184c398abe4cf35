"""The on-disk ONNX cache: one directory per graph, published whole by one atomic rename, never half-written.

Layout (format version 3, in the directory name so that no older entry is ever read as a new one):

    {cache_key}_r{resolution}_{graph_dtype}.onnx-v3/            the dynamic-batch graph (every batch)
    {cache_key}_r{resolution}_b{batch}_{graph_dtype}.onnx-v3/   a static-batch fallback graph

(``_o{opset}`` before the suffix when an opset was asked for, ``_x{exporter}`` when an exporter other than the
default dynamo one is tried first), each holding ``model.onnx``, ``reference.npz``
(``input``: the fixed fp32 input of ``REF_BATCH`` images; ``output``: eager fp32 output of the exported weights
on it) and ``meta.json`` (how it was made). A dynamic entry whose export or check failed holds ``meta.json`` only,
with ``failed`` saying why: readers go to the static fallback without trying the dynamic export again.

Graph, reference and meta are staged in a private directory and renamed into place together, so concurrent
preparers (a prefetch pool, two sweeps sharing a cache) can only ever publish a consistent set: the first rename
wins, a later one finds the name taken and uses the winner's entry. A rebuilt model has fresh random weights, so
a graph must only ever be checked against the reference saved with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT_VERSION = 3  # 3: exported weights carry batch-norm statistics from data (timing/calibrate.py)
GRAPH_FILE, REFERENCE_FILE, META_FILE = "model.onnx", "reference.npz", "meta.json"


@dataclass(frozen=True)
class Entry:
    """One published cache entry (read-only once published)."""

    path: Path
    meta: dict[str, Any]

    @property
    def graph(self) -> Path | None:
        """The graph file, or None for an entry that records a failed dynamic export."""
        graph = self.path / GRAPH_FILE
        return graph if graph.exists() else None

    def reference(self) -> tuple[Any, Any]:
        """(input, output) numpy fp32 arrays of the reference pair saved with the graph."""
        import numpy as np

        with np.load(self.path / REFERENCE_FILE) as ref:
            return ref["input"], ref["output"]


def entry_dir(
    cache_dir: Path,
    cache_key: str,
    resolution: int,
    graph_dtype: str,
    batch: int | None = None,
    opset: int | None = None,
    exporter: str = "dynamo",
) -> Path:
    """Where the entry of one (spec, resolution, graph dtype[, static batch][, asked opset][, exporter]) lives."""
    static = f"_b{batch}" if batch is not None else ""
    asked = f"_o{opset}" if opset is not None else ""  # None = the exporter's default opset
    asked += f"_x{exporter}" if exporter != "dynamo" else ""  # entries made before the choice existed: dynamo
    return Path(cache_dir) / f"{cache_key}_r{resolution}{static}_{graph_dtype}{asked}.onnx-v{FORMAT_VERSION}"


def load_entry(path: Path) -> Entry | None:
    """The published entry at ``path``, else None (meta.json is always present in a published entry)."""
    meta_path = path / META_FILE
    if not meta_path.exists():
        return None
    return Entry(path, json.loads(meta_path.read_text()))


def onnx_cache_checker(cache_dir: Path | str | None = None) -> Callable[[Any], bool]:
    """Whether a task's graph is already in the cache (a dynamic-batch entry, or a static one of its batch).

    The callable takes a sweep task, or anything with its ``spec_hash``, ``resolution``, ``dtype``, ``batch`` and
    ``timing`` (the ``[timing]`` table: ``opset``, ``exporter``); the worker and the estimate ask it.
    """
    from profiler.timing.onnx_export import GRAPH_DTYPE, default_cache_dir

    root = Path(cache_dir) if cache_dir else default_cache_dir()

    def cached(t: Any) -> bool:
        graph_dtype, opset = GRAPH_DTYPE.get(t.dtype, "fp32"), t.timing.get("opset")
        for batch in (None, t.batch):  # None: the dynamic-batch entry (one per spec and resolution)
            entry = load_entry(
                entry_dir(
                    root, t.spec_hash, t.resolution, graph_dtype, batch, opset, t.timing.get("exporter", "dynamo")
                )
            )
            if entry is not None and entry.graph is not None:
                return True
        return False

    return cached


@contextlib.contextmanager
def staging(cache_dir: Path) -> Iterator[Path]:
    """A private directory inside ``cache_dir`` (same file system, so ``publish`` is one rename)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=cache_dir))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # gone already when published


def save_reference(stage: Path, x: Any, y: Any) -> None:
    """The reference (input, output) pair, fp32, into a staged entry."""
    import numpy as np

    np.savez(stage / REFERENCE_FILE, input=np.asarray(x, dtype=np.float32), output=np.asarray(y, dtype=np.float32))


def publish(stage: Path, final: Path, meta: dict[str, Any]) -> tuple[Entry, bool]:
    """Write meta into ``stage`` and rename it to ``final``; (the entry now at ``final``, whether ours won)."""
    (stage / META_FILE).write_text(json.dumps(meta | {"format_version": FORMAT_VERSION}, indent=2, default=str))
    try:
        os.rename(stage, final)  # atomic; fails when another process published ``final`` first
    except OSError:
        entry = load_entry(final)
        if entry is None:  # not a lost race (e.g. a permission problem): let it surface
            raise
        return entry, False
    entry = load_entry(final)
    assert entry is not None
    return entry, True
