"""Counts of a run per (spec, resolution): computed once, shared by the timing worker and the preparation
processes through small JSON files in the run's ``counts/`` (``<spec>_r<res>.json``, with the per-op table the
mechanistic runtime model sums over in ``<spec>_r<res>.ops.json``).

Keyed by ``<spec_hash>_r<resolution>`` (a sweep task's ``prep_key``). It takes a sweep task, or anything with the
attributes it reads (``CountTask``), so that counting never imports the sweep above it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

from profiler.core import paths


class CountTask(Protocol):
    """What the cache reads of a task (``profiler.sweep.tasks.Task`` has it)."""

    resolution: int
    batch: int
    dtype: str

    @property
    def prep_key(self) -> str: ...  # <spec_hash>_r<resolution>


class CountCache:
    """Counts per (spec, resolution): computed once per run, shared by workers through small JSON files."""

    def __init__(self, directory: Path | None) -> None:
        self.dir = directory
        self.mem: dict[str, dict[str, int]] = {}
        self.tables: dict[str, dict[str, Any]] = {}  # op-table documents, where counted in this process

    def bytes_batch(self, task: CountTask) -> int | None:
        """Memory traffic of one batch of ``task`` at its batch and dtype (``counting.opclass``; the row's
        ``bytes_batch``), from the per-op table; None without a table or for a dtype without element sizes."""
        from profiler.counting.opclass import TRAFFIC_DTYPES, traffic_of_doc

        doc = self.tables.get(task.prep_key)
        path = paths.ops_file(self.dir, task.prep_key) if self.dir else None
        if doc is None and path is not None and path.is_file():
            doc = self.tables[task.prep_key] = json.loads(path.read_text())
        if doc is None or task.dtype not in TRAFFIC_DTYPES:
            return None
        return traffic_of_doc(doc, int(task.batch), task.dtype)

    def get(self, task: CountTask, spec: Any) -> dict[str, int]:
        """The counts of ``task``'s (spec, resolution): this process's, else the cache file's, else counted now."""
        return self.count(task.prep_key, spec, task.resolution)

    def count(self, key: str, spec: Any, resolution: int) -> dict[str, int]:
        """The counts of ``spec`` at ``resolution`` under ``key`` (``<spec_hash>_r<resolution>``)."""
        if key in self.mem:
            return self.mem[key]
        path = paths.count_file(self.dir, key) if self.dir else None
        if path is not None and path.is_file():
            self.mem[key] = json.loads(path.read_text())
            return self.mem[key]
        from profiler.counting import count_model
        from profiler.counting.ops import op_table_doc

        # Fake tensors under FlopCounterMode: no kernels run, no fvcore needed on the GPU host; the golden test
        # shows it equals fvcore's count on every registered model.
        c = count_model(spec, resolution, batch=1, method="torch")
        counts = {
            "macs": c.macs,
            "params": c.params,
            "acts": c.acts,
            "acts_all": c.acts_all,
            "ops": c.ops,
            "bytes": c.bytes,
        }
        self.tables[key] = doc = op_table_doc(c)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The per-op table (what the mechanistic runtime model sums over) sits next to the counts.
            write_atomic(paths.ops_file(path.parent, key), json.dumps(doc))
            write_atomic(path, json.dumps(counts))
        self.mem[key] = counts
        return counts


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a killed process never leaves half a file."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomic: a killed worker never leaves half a file


def count_doc(spec_json: str, resolution: int) -> dict:
    """Count one spec at ``resolution``, batch 1, on fake tensors; the JSON document of its op table."""
    import models
    from profiler.counting import count_model
    from profiler.counting.ops import op_table_doc

    spec = models.spec_from_dict(json.loads(spec_json))
    return op_table_doc(count_model(spec, int(resolution), batch=1, method="torch"))
