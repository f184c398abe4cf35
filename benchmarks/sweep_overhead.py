"""Where a sweep's wall time goes, before/after a change: wall ÷ timed and the phase shares, side by side.

    python benchmarks/sweep_overhead.py                          # this checkout, experiments/quick-cpu.toml
    python benchmarks/sweep_overhead.py --base main              # and the same sweep on `main` (a temporary worktree)
    python benchmarks/sweep_overhead.py --iters 100 --isolation repeat   # variants of the config

Each side runs ``python -m profiler sweep --device cpu --no-progress`` in its own checkout with its own, empty
ONNX/count cache (``ARCHPROF_CACHE``), so both start cold; ``--cache DIR`` shares one (warm after the first
side). A shipped config is read as each side's revision has it.
Phases come from the rows (warm-up from ``details.warmup_s_done`` where a run has no phase columns, timed = the
samples' sum), failed rows included (the phases that ran before the failure; "failed rows' phases" says how much
of the total that is), and from the session (the prefetch pool's preparation before timing); "other" is the rest
of the wall time: process starts, imports, model copies, and whatever a side does not report. Prints the load average:
on a shared machine the figures move with it; compare sides run back to back.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a source checkout
from profiler.core.phases import PHASES  # noqa: E402  (the column names, the same on both sides)


def variant(text: str, iters: int | None, isolation: str | None) -> str:
    """The config text with ``[timing] iters`` and/or the top-level ``isolation`` replaced."""
    if iters is not None:
        text, n = re.subn(r"(?m)^iters\s*=\s*\d+", f"iters = {iters}", text)
        if not n:
            text = text.replace("[timing]", f"[timing]\niters = {iters}", 1)
    if isolation is not None:
        text = re.sub(r"(?m)^isolation\s*=.*\n", "", text)
        text = re.sub(r"(?m)^(name\s*=.*)$", rf'\1\nisolation = "{isolation}"', text, count=1)
    return text


def run_side(checkout: Path, config_text: str, work: Path, cache: Path | None) -> dict:
    """Run the sweep in ``checkout``; return wall, timed and phase seconds of its session."""
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "bench.toml"
    cfg.write_text(config_text)
    env = {"ARCHPROF_CACHE": str(cache or work / "cache"), "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    # Exit 1 = some rows failed (they are counted below); 2 = the side refused the config or its arguments.
    # A sweep that measures the device's peaks when none are stored (~15 s once per machine, not a per-sweep cost)
    # would pay it in every side's empty cache: skipped where the side's CLI knows --no-peaks.
    cli = checkout / "profiler" / "commands" / "cmd_sweep.py"
    no_peaks = ["--no-peaks"] if cli.is_file() and "--no-peaks" in cli.read_text() else []
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "profiler",
            "sweep",
            "--config",
            str(cfg),
            "--device",
            "cpu",
            "--no-progress",
            "--results-dir",
            str(work / "res"),
            "--run-id",
            "bench",
            *no_peaks,
        ],
        cwd=checkout,
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    run = work / "res" / "bench"
    if done.returncode not in (0, 1) or not (run / "meta.json").is_file():
        raise SystemExit(f"the sweep in {checkout} exited {done.returncode} without a run (see its message above)")
    session = json.loads((run / "meta.json").read_text())["sessions"][-1]
    conn = sqlite3.connect(run / "results.sqlite")
    conn.row_factory = sqlite3.Row
    phases = dict.fromkeys(PHASES, 0.0)
    failed = exports = 0
    failed_s = 0.0
    for r in conn.execute("SELECT * FROM measurements"):
        r = dict(r)
        failed += r["status"] != "ok"
        details = json.loads(r["details_json"]) if r.get("details_json") else {}
        exports += details.get("cache_hit") is False  # an export inside the timing worker
        if r.get("timed_s") is None and r.get("samples_ms"):
            r["timed_s"] = sum(json.loads(r["samples_ms"])) / 1000
        if r.get("warmup_s") is None:
            r["warmup_s"] = details.get("warmup_s_done")
        for p in PHASES:
            phases[p] += float(r.get(p) or 0.0)
            failed_s += float(r.get(p) or 0.0) if r["status"] != "ok" else 0.0
    pf = session.get("prefetch") or {}
    phases["prepare before timing"] = float(pf.get("before_s") or 0.0)
    phases["wait for prefetch"] = float(pf.get("wait_s") or 0.0)
    wall = float(session["wall_s"])
    phases["other"] = max(0.0, wall - sum(phases.values()))
    pool_exports = int(pf.get("prepared") or 0) if pf.get("prepare_onnx") else 0
    return {
        "wall_s": wall,
        "timed_s": float(session["timed_s"]),
        "rows": session["rows"],
        "failed": failed,
        "failed rows' phases": f"{failed_s:.1f} s",
        "exports": f"{exports} in worker, {pool_exports} pairs in pool",
        "phases": phases,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "experiments" / "quick-cpu.toml"))
    ap.add_argument("--base", default=None, help="git ref to compare with (run in a temporary worktree)")
    ap.add_argument("--iters", type=int, default=None, help="override [timing] iters (both sides)")
    ap.add_argument("--isolation", default=None, help="override isolation on this side only (model|repeat|sweep)")
    ap.add_argument("--cache", default=None, help="one ARCHPROF_CACHE for both sides (default: fresh per side)")
    args = ap.parse_args()
    text = Path(args.config).read_text()
    tmp = Path(tempfile.mkdtemp(prefix="archprof-overhead-"))
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    sides: dict[str, dict] = {}
    cache = Path(args.cache) if args.cache else None
    if args.base:
        base = tmp / "base-checkout"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base), args.base],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # A shipped config is read as the base revision has it (a newer key would be refused there).
            own = (
                base / Path(args.config).resolve().relative_to(ROOT)
                if Path(args.config).resolve().is_relative_to(ROOT)
                else None
            )
            base_text = own.read_text() if own is not None and own.is_file() else text
            sides[f"base ({args.base})"] = run_side(base, variant(base_text, args.iters, None), tmp / "base", cache)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    label = "this checkout" + (f" (isolation {args.isolation})" if args.isolation else "")
    sides[label] = run_side(ROOT, variant(text, args.iters, args.isolation), tmp / "this", cache)
    load_after = Path("/proc/loadavg").read_text().split()[:3]

    names = list(sides)
    print(
        f"config {args.config}"
        + (f", iters {args.iters}" if args.iters else "")
        + f"; load average before {' '.join(load_before)}, after {' '.join(load_after)} (2-core machine)"
    )
    print(f"{'':<34}" + "".join(f"{n:>30}" for n in names))
    for key, fmt in (
        ("wall_s", "{:.1f} s"),
        ("timed_s", "{:.2f} s"),
        ("rows", "{}"),
        ("failed", "{}"),
        ("failed rows' phases", "{}"),
        ("exports", "{}"),
    ):
        print(f"{key:<34}" + "".join(f"{fmt.format(sides[n][key]):>30}" for n in names))
    ratio = [sides[n]["wall_s"] / sides[n]["timed_s"] if sides[n]["timed_s"] else float("nan") for n in names]
    print(f"{'wall / timed':<34}" + "".join(f"{r:>30.1f}" for r in ratio))
    for phase in sides[names[0]]["phases"]:
        cells = []
        for n in names:
            v = sides[n]["phases"].get(phase, 0.0)
            cells.append(f"{v:.1f} s ({v / sides[n]['wall_s']:.0%})")
        print(f"{phase:<34}" + "".join(f"{c:>30}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
