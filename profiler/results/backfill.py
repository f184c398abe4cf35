"""``python -m profiler.results.backfill RUN [RUN ...]``: add per-op tables to runs recorded before sweeps wrote them.

Writes ``<run>/counts/<spec_hash>_r<res>.ops.json`` for every (spec, resolution) of the run's ok rows that lacks
one (counted on fake tensors from the row's ``spec_json``; see ``profiler.analysis.optables``) and prints each new
file. The rows, ``meta.json`` and the existing count files are not touched.
"""

from __future__ import annotations

import sys

from profiler.analysis.optables import backfill
from profiler.core.errors import UsageError


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
