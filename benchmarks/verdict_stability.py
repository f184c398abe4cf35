"""Does the default sweep give the same verdict twice? N back-to-back sweeps, their verdicts side by side.

    python benchmarks/verdict_stability.py                 # 3 default sweeps (quick-cpu on a CPU), then analyze each
    python benchmarks/verdict_stability.py --runs 2 --config experiments/ci-check.toml

Issue #27's target: back-to-back default sweeps on one machine give the same verdict, or each marks its verdict
fragile (the analysis' noise check: refits on resampled timings agree < 90 %). Each sweep runs as a user runs it
(``python -m profiler sweep --no-progress``), into a temporary results folder with one private cache shared by the
runs (``ARCHPROF_CACHE``: the first run exports the ONNX graphs and measures the peaks; the others reuse them), and
is analyzed by ``python -m profiler analyze RUN --json``. Prints per cell and run: the verdict's words, the noise
check's agreement, unstable rows, held-out MAPE of M0 / M3 / M5, and per run the wall time and the load average
(other processes on a shared machine move every figure; say what the load was when quoting the output).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep_and_analyze(i: int, work: Path, cache: Path, config: str | None, resamples: int) -> dict:
    """One sweep (run id ``run-i``) and its analysis; the figures this script prints."""
    env = {**os.environ, "ARCHPROF_CACHE": str(cache)}
    cmd = [
        sys.executable,
        "-m",
        "profiler",
        "sweep",
        "--no-progress",
        "--results-dir",
        str(work),
        "--run-id",
        f"run-{i}",
        *(["--config", config] if config else []),
    ]
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
    wall, load1 = time.perf_counter() - t0, os.getloadavg()[0]
    run = work / f"run-{i}"
    if done.returncode not in (0, 1) or not (run / "meta.json").is_file():
        raise SystemExit(f"sweep {i} exited {done.returncode} without a run")
    session = json.loads((run / "meta.json").read_text())["sessions"][-1]
    out = subprocess.run(
        [sys.executable, "-m", "profiler", "analyze", str(run), "--json", "--resamples", str(resamples)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"analyze of sweep {i} failed: {out.stderr.strip()}")
    result = json.loads(out.stdout)
    cells = {}
    for c in result["cells"]:
        v, held = c["verdict"], c["heldout"].get("forms", {})
        cells[c["label"]] = {
            "label": v["label"],
            "fragile": v.get("fragile"),
            "agreement": (v.get("robustness") or {}).get("agreement"),
            "unstable": v.get("unstable_rows"),
            "n": c["n"],
            "regime": c.get("explanation", {}).get("regime"),
            "mape": {f: held[f]["mape"] for f in ("M0", "M3", "M5") if f in held},
        }
    return {
        "wall_s": wall,
        "load": (load0, load1),
        "rows": session.get("rows"),
        "unstable": session.get("unstable"),
        "timed_s": session.get("timed_s"),
        "cells": cells,
    }


def _cell_text(c: dict | None) -> str:
    if c is None:
        return "(not analyzed)"
    agree = "n/a" if c["agreement"] is None else f"{100 * c['agreement']:.0f} %"
    words = c["label"] + (" [FRAGILE]" if c["fragile"] else "")
    mape = " ".join(f"{f} {100 * m:.1f}" for f, m in c["mape"].items())
    return f"{words}; agree {agree}; unstable {c['unstable']}/{c['n']}; MAPE % {mape}; {c['regime']}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="back-to-back sweeps (default 3)")
    ap.add_argument("--config", default=None, help="sweep config (default: the sweep command's default)")
    ap.add_argument("--resamples", type=int, default=50, help="the noise check's refits (default 50)")
    ap.add_argument("--keep", default=None, help="keep the runs in this folder (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="archprof-verdicts-") as tmp:
        work = Path(args.keep or tmp)
        runs = []
        for i in range(1, args.runs + 1):
            r = sweep_and_analyze(i, work, work / "cache", args.config, args.resamples)
            runs.append(r)
            print(
                f"run {i}: {r['rows']} rows, {r['unstable']} unstable, wall {r['wall_s']:.0f} s (timed "
                f"{r['timed_s']:.1f} s), load average {r['load'][0]:.2f} → {r['load'][1]:.2f} on "
                f"{os.cpu_count()} CPUs",
                flush=True,
            )
    print()
    labels = sorted({lab for r in runs for lab in r["cells"]})
    target_met = firm_agree = True
    for lab in labels:
        print(f"cell {lab}")
        seen = [r["cells"].get(lab) for r in runs]
        for i, c in enumerate(seen, 1):
            print(f"  run {i}: {_cell_text(c)}")
        words = {c["label"] for c in seen if c}
        same = len(words) == 1 and all(seen)
        all_fragile = all(c and c["fragile"] for c in seen)
        firm = {c["label"] for c in seen if c and not c["fragile"]}
        ok = same or all_fragile
        target_met &= ok
        firm_agree &= len(firm) <= 1
        print(
            f"  → {'same words in every run' if same else 'the words differ'}"
            f"{'; every run marks it fragile' if all_fragile else ''}: target {'met' if ok else 'NOT met'}; "
            f"the runs not marked fragile say {sorted(firm) or 'nothing'}"
            f" ({'they agree' if len(firm) <= 1 else 'they CONTRADICT each other'})"
        )
    print(
        f"\nissue #27 target (same verdict, or each fragile) {'met' if target_met else 'NOT met'} in every cell; "
        f"verdicts not marked fragile {'never contradict' if firm_agree else 'CONTRADICT'} each other"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
