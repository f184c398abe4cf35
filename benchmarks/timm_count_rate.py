"""How fast timm models count, beside registry models counted the same way (issue #24: counting a timm model must
cost about what a registry model costs).

    PYTHONPATH=. python benchmarks/timm_count_rate.py [--csv FILE] [--limit N] [--families resnet,regnetx,...]

The timm models are the rows of one of timm's published benchmark tables (``--csv``, default the RTX 3090 AMP table
in ``shared/public-data/timm``) whose family (``models.external.timm_family``: ``seresnext26d_32x4d`` →
``seresnext``) is one of the registry's seed families (default ``SEED_FAMILIES``), each counted once at the table's
``infer_img_size`` through ``profiler.counting.count_model(ref, method="torch")``: the reference is resolved, the
model built on the meta device and counted in one shapes-only pass, as a sweep counts it. The registry's models are
then counted the same way, at their own resolutions. Prints models/s (wall and CPU) for both, the ratio of the mean
per-model CPU seconds, the models that could not be counted (with the reason) and the load average before and after,
since the VM is shared.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import models
from models.external import import_timm, timm_family
from profiler.counting import count_model

CSV = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "public-data"
    / "timm"
    / "benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv"
)
# The registry's families in timm's spelling (the registry's mobilenet_v2 is timm's mobilenetv2, and so on).
SEED_FAMILIES = (
    "resnet",
    "resnext",
    "seresnet",
    "seresnext",
    "regnetx",
    "regnety",
    "efficientnet",
    "mobilenetv1",
    "mobilenetv2",
    "densenet",
    "inception",
    "shufflenet",
)


def timm_rows(path: Path, families: tuple[str, ...], limit: int | None) -> list[tuple[str, int]]:
    """(timm name, resolution) of the table's rows in ``families``, first occurrence of each name, table order."""
    seen: dict[str, int] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            name = row["model"]
            if timm_family(name) in families and name not in seen:
                seen[name] = int(row["infer_img_size"])
    rows = list(seen.items())
    return rows[:limit] if limit else rows


def count_all(items: list[tuple[str, int | None]]) -> tuple[float, float, list[str]]:
    """Wall and CPU seconds to count every (reference, resolution); the failures with their reasons."""
    failed: list[str] = []
    w0, c0 = time.perf_counter(), time.process_time()
    for ref, res in items:
        try:
            count_model(ref, res, method="torch")
        except Exception as exc:  # a benchmark reports what did not count and goes on
            failed.append(f"{ref}: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}")
    return time.perf_counter() - w0, time.process_time() - c0, failed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--csv", type=Path, default=CSV, help="a timm benchmark table (default: RTX 3090 AMP)")
    p.add_argument("--limit", type=int, default=None, help="count only the first N timm models")
    p.add_argument("--families", default=",".join(SEED_FAMILIES), help="timm families to take from the table")
    args = p.parse_args()

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    import_timm()
    import_s = time.perf_counter() - t0
    rows = timm_rows(args.csv, tuple(args.families.split(",")), args.limit)
    timm_items = [(f"timm:{name}", res) for name, res in rows]
    reg_items = [(name, None) for name in models.list_models()]
    tw, tc, tfail = count_all(timm_items)
    rw, rc, rfail = count_all(reg_items)
    load1 = os.getloadavg()

    n_t, n_r = len(timm_items) - len(tfail), len(reg_items) - len(rfail)
    print(f"timm import: {import_s:.1f} s (once per process, not in the rates)")
    print(
        f"timm ({len(timm_items)} models of {len({timm_family(n) for n, _ in rows})} families from "
        f"{args.csv.name}, {n_t} counted): {tw:.1f} s wall, {tc:.1f} s CPU -> {len(timm_items) / tw:.2f} models/s "
        f"wall, {len(timm_items) / tc:.2f} models/s CPU"
    )
    print(
        f"registry ({len(reg_items)} models, {n_r} counted): {rw:.1f} s wall, {rc:.1f} s CPU -> "
        f"{len(reg_items) / rw:.2f} models/s wall, {len(reg_items) / rc:.2f} models/s CPU"
    )
    print(f"CPU seconds per model, timm / registry: {(tc / len(timm_items)) / (rc / len(reg_items)):.2f}")
    print(
        f"load average (1, 5, 15 min) before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
        f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; {os.cpu_count()} cores"
    )
    for line in tfail + rfail:
        print(f"not counted: {line}")


if __name__ == "__main__":
    main()
