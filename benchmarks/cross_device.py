"""Cross-device transfer on timm's two shared GPU tables: RTX 3090 → 4090 and 4090 → 3090, side by side.

For each direction and form, ``profiler predict --from SOURCE --compare TARGET`` (no target measurement) and
``--calibrate 3``: MAPE, share within ±10 % and the median predicted/measured ratio, against the targets of the
cross-device issue (≥ 85 % within ±10 % without a target measurement, ≥ 90 % with ``--calibrate 3``), met or not.

The runs are timm's AMP NCHW tables imported by ``profiler import timm --include cnn-seed-families``: taken from
``results/public-timm-*`` when committed there, else imported now from ``../shared/public-data/timm/`` into a temporary
directory (counting is cached; a few seconds to minutes).

    python benchmarks/cross_device.py [--forms M7,opclass] [--timm-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.analysis import cross_device as predict_device  # noqa: E402
from profiler.cli import build_parser, main  # noqa: E402

DEVICES = {"rtx3090": "NVIDIA GeForce RTX 3090", "rtx4090": "NVIDIA GeForce RTX 4090"}
TARGETS = {0: 85.0, 3: 90.0}  # share within ±10 %, per --calibrate K
STEM = "benchmark-infer-amp-nchw-pt240-cu124-{}"


def committed_run(key: str) -> Path | None:
    """A committed import of the GPU's AMP NCHW table: ``results/public-timm-*<key>*`` (not the nhwc one)."""
    for path in sorted((ROOT / "results").glob(f"public-timm-*{key}*")):
        if "nhwc" not in path.name and "amp" in path.name and (path / "meta.json").is_file():
            return path
    return None


def find_runs(timm_dir: Path, tmp: Path) -> dict[str, Path]:
    """The imported run of each GPU: committed under ``results/`` if present, else imported into ``tmp``."""
    runs = {}
    for key, name in DEVICES.items():
        committed = committed_run(key)
        if committed is not None:
            runs[key] = committed
            continue
        out = tmp / key
        argv = [
            "import",
            "timm",
            str(timm_dir / f"{STEM.format(key)}.csv"),
            "--device-name",
            name,
            "--include",
            "cnn-seed-families",
            "-o",
            str(out),
            "--no-progress",
            "--force",
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            if main(argv) != 0:
                raise SystemExit(f"import of {key} failed")
        runs[key] = out
    return runs


def transfer(source: Path, target: Path, form: str, calibrate: int) -> dict:
    """The ``compare`` block of ``predict --device`` (plus the terms' factors)."""
    argv = ["predict", "--from", str(source), "--compare", str(target), "--form", form]
    argv += ["--calibrate", str(calibrate)] if calibrate else []
    doc = predict_device.predict(build_parser().parse_args(argv))
    return {**doc["compare"], "n_source": doc["source"]["models"]}


def main_(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--forms", default="M7,opclass", help="source forms (default M7,opclass)")
    p.add_argument("--timm-dir", type=Path, default=ROOT.parent / "shared" / "public-data" / "timm")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = find_runs(args.timm_dir, Path(tmp))
        for form in args.forms.split(","):
            for src, tgt in (("rtx3090", "rtx4090"), ("rtx4090", "rtx3090")):
                for k in TARGETS:
                    c = transfer(runs[src], runs[tgt], form, k)
                    rows.append(
                        {
                            "direction": f"{src} -> {tgt}",
                            "form": form,
                            "calibrate": k,
                            **c,
                            "target_within10_pct": TARGETS[k],
                            "met": c["within10_pct"] >= TARGETS[k],
                        }
                    )
        where = {
            k: str(v) if str(v).startswith(str(ROOT)) else f"imported now from {args.timm_dir}" for k, v in runs.items()
        }
    if args.json:
        print(json.dumps({"runs": where, "rows": rows}, indent=1))
        return 0
    print("runs: " + "; ".join(f"{k}: {v}" for k, v in where.items()))
    print(
        f"{'direction':<20} {'form':<8} {'calib':>5} {'scored':>6} {'MAPE %':>7} {'±10 %':>6} {'median':>7} "
        f"{'in PI %':>7} {'target':>7}  met"
    )
    for r in rows:
        print(
            f"{r['direction']:<20} {r['form']:<8} {r['calibrate']:>5} {r['n']:>6} {r['mape_pct']:>7.1f} "
            f"{r['within10_pct']:>6.1f} {r['median_ratio']:>7.3f} {r['interval_coverage_pct'] or float('nan'):>7.0f} "
            f"{r['target_within10_pct']:>6.0f}%  "
            f"{'yes' if r['met'] else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main_())
