"""``python -m profiler.results.backfill RUN [RUN ...]``: add per-op tables to runs recorded before sweeps wrote them.

Writes ``<run>/counts/<spec_hash>_r<res>.ops.json`` for every (spec, resolution) of the run's ok rows that lacks
one (counted on fake tensors from the row's ``spec_json`` by ``profiler.counting.cache.count_doc``; the analysis
reads them through ``profiler.analysis.optables``) and prints each new file. The rows, ``meta.json`` and the
existing count files are not touched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from profiler.core import paths
from profiler.core.errors import UsageError


def backfill(run: str | Path) -> list[Path]:
    """Write ``counts/<spec_hash>_r<res>.ops.json`` for every ok row of a run that lacks one; returns new files."""
    from profiler.counting.cache import count_doc, write_atomic
    from profiler.results.store import load_results, resolve_run

    run_dir = resolve_run(run)
    df = load_results(run_dir)
    df = df[df["status"] == "ok"]
    written = []
    for (h, res), sub in df.groupby(["spec_hash", "resolution"], sort=True):
        path = paths.ops_path(run_dir, h, int(res))
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(count_doc(sub["spec_json"].iloc[0], int(res))))
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m profiler.results.backfill RUN [RUN ...]", file=sys.stderr)
        return 2
    for arg in argv:
        try:
            written = backfill(arg)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for path in written:
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
