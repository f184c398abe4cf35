"""Two runs side by side per model: archprof's own timing beside an imported table (``profiler compare A B``).

Rows are matched on (model, resolution) — a ``timm:NAME`` reference in a sweep matches the imported ``timm:NAME``
rows — among ``ok`` rows; repeats are reduced to their median. Latency is compared per image (``latency_ms /
batch``: timm's batch differs between models, the sweep's is the config's), ratio = A / B. The settings of the two
sides (device name, backend, dtype, memory format, batches) are printed too: a ratio across different settings is
a comparison of settings, not of protocols.
"""

from __future__ import annotations

import math
from typing import Any

from profiler.core.errors import UsageError

SETTING = ("device_name", "backend", "dtype", "memory_format")


def _side(arg: str, results_dir: str) -> tuple[str, Any]:
    from profiler.results.runs import open_run

    run = open_run(arg, results_dir)
    df = run.rows
    df = df[df["status"].astype(str) == "ok"].copy()
    if df.empty:
        raise UsageError(f"{arg}: no rows with status 'ok' to compare")
    df["ms_per_image"] = df["latency_ms"].astype(float) / df["batch"].astype(float)
    return str(run.path), df


def _settings(df: Any) -> dict[str, str]:
    out = {c: ", ".join(sorted({str(v) for v in df[c].dropna()})) or "?" for c in SETTING if c in df}
    out["batch"] = ", ".join(str(int(b)) for b in sorted(df["batch"].dropna().unique()))
    return out


def compare(a: str, b: str, results_dir: str = "results") -> dict[str, Any]:
    """Per model present in both runs: per-image latency of each and their ratio A / B; summary statistics."""
    path_a, da = _side(a, results_dir)
    path_b, db = _side(b, results_dir)
    keys = ["model", "resolution"]
    ga = da.groupby(keys).agg(ms_a=("ms_per_image", "median"), batch_a=("batch", "first"), family=("family", "first"))
    gb = db.groupby(keys).agg(ms_b=("ms_per_image", "median"), batch_b=("batch", "first"))
    both = ga.join(gb, how="inner").reset_index()
    if both.empty:
        sample_a = ", ".join(sorted(da["model"].unique())[:3])
        sample_b = ", ".join(sorted(db["model"].unique())[:3])
        raise UsageError(f"no (model, resolution) in both runs: {path_a} has e.g. {sample_a}; {path_b} has e.g. "
                         f"{sample_b} (a sweep of experiments/timm-compare.toml matches the imported timm tables)")
    both["ratio"] = both["ms_a"] / both["ms_b"]
    logs = [math.log(r) for r in both["ratio"]]
    rows = [
        {"model": r.model, "family": r.family, "resolution": int(r.resolution), "batch_a": int(r.batch_a),
         "ms_per_image_a": float(r.ms_a), "batch_b": int(r.batch_b), "ms_per_image_b": float(r.ms_b),
         "ratio": float(r.ratio)}
        for r in both.sort_values(["family", "model"]).itertuples()
    ]
    return {
        "a": {"run": path_a, **_settings(da)}, "b": {"run": path_b, **_settings(db)},
        "n": len(rows), "only_a": int(len(ga) - len(both)), "only_b": int(len(gb) - len(both)),
        "ratio_geomean": math.exp(sum(logs) / len(logs)),
        "ratio_median": float(both["ratio"].median()),
        "ratio_min": float(both["ratio"].min()), "ratio_max": float(both["ratio"].max()),
        "rows": rows,
    }


def render(result: dict[str, Any]) -> None:
    """Print the comparison as a rich table with the two settings above it."""
    from rich.console import Console
    from rich.table import Table

    con = Console(highlight=False, width=max(Console().width, 120))
    for side in ("a", "b"):
        s = result[side]
        con.print(f"{side.upper()}: {s['run']}  ({'; '.join(f'{k} {v}' for k, v in s.items() if k != 'run')})")
    table = Table(title="latency per image (ms): A / B")
    for col in ("model", "family", "res", "batch A", "A ms/img", "batch B", "B ms/img", "A / B"):
        table.add_column(col, justify="left" if col in ("model", "family") else "right")
    for r in result["rows"]:
        table.add_row(r["model"], r["family"], str(r["resolution"]), str(r["batch_a"]), f"{r['ms_per_image_a']:.4g}",
                      str(r["batch_b"]), f"{r['ms_per_image_b']:.4g}", f"{r['ratio']:.2f}")
    con.print(table)
    con.print(f"{result['n']} (model, resolution) in both (only in A: {result['only_a']}, "
              f"only in B: {result['only_b']}); "
              f"A / B geometric mean {result['ratio_geomean']:.2f}, median {result['ratio_median']:.2f}, "
              f"range {result['ratio_min']:.2f}–{result['ratio_max']:.2f}")
