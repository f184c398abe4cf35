"""``profiler check --config FILE --against REV``: the A/B mode of the check (see ``profiler.baseline.ab``).

Latency: side A (REV, in a temporary worktree) against side B (this working tree), both measured now, on this
machine, in interleaved rounds. Counts: side B against the stored baseline of the config's name (counts do not
depend on the machine, so any device key's file serves), because an intended change of a model is approved by
committing a new baseline, which an A/B comparison of counts could never accept.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the checkout whose code runs now: side B


def resolve(args: argparse.Namespace) -> tuple[Path, str] | None:
    """(repository root, REV) for A/B mode, or None for stored-baseline mode."""
    from profiler.baseline.ab import default_against, repo_root

    if args.run or args.against == "stored":
        return None
    root = repo_root(PACKAGE_ROOT)
    if args.against is None:
        if root is None:
            return None  # not a checkout (an installed package): stored baselines only
        rev = default_against(root)
        return None if rev is None else (root, rev)
    if root is None:
        raise UsageError(f"--against {args.against} needs a git checkout; {PACKAGE_ROOT} is not one")
    return root, args.against


def _sha(root: Path, rev: str) -> str:
    from profiler.baseline.ab import run_git

    return run_git(["rev-parse", "--verify", f"{rev}^{{commit}}"], root)


def run_ab(args: argparse.Namespace, config_path: Path, cfg: Any, device: str, root: Path, rev: str) -> int:
    """Measure A (``rev``) and B (working tree) interleaved, judge B's latency against A; counts vs stored."""
    import tempfile

    from profiler.baseline import (
        DEFAULT_ROOT,
        LatencyRule,
        build_baseline,
        compare,
        newest_baseline,
        render,
    )
    from profiler.baseline.ab import Side, plan_at, round_order, run_rounds, same_code, worktree
    from profiler.baseline.select import restrict_tasks
    from profiler.core.device_key import device_key
    from profiler.core.environment import capture
    from profiler.results.store import ResultStore

    name = args.name or cfg.name
    rounds = args.rounds or max(2, cfg.repeats)
    if rounds < 2:
        raise UsageError(f"--rounds must be >= 2 (the rule compares whole processes), got {rounds}")
    target = Path(args.baseline) if args.baseline else PACKAGE_ROOT / DEFAULT_ROOT
    stored, counts_note = newest_baseline(target, name)  # before measuring: a bad file fails at once
    reference = args.reference or cfg.reference_model or stored.get("reference_model")
    rule = LatencyRule(args.threshold, args.alpha)
    sha = _sha(root, rev)
    identical = same_code(root, sha)
    skip = identical or args.latency == "off"  # only B is measured (counts)
    if identical and args.latency != "off":
        print(
            f"note: A ({rev} = {sha[:10]}) and B (the working tree) are the same code, so latency is not compared "
            "(an A/A run can only raise false alarms); counts are checked. Pass --against REV to gate a change, "
            "e.g. --against HEAD~1",
            file=sys.stderr,
        )
    keep = _keep_dir(args.keep_run)
    with (
        tempfile.TemporaryDirectory(prefix="archprof-ab-") as tmp,
        nullcontext((None, sha)) if skip else worktree(root, sha, Path(tmp)) as (base_root, sha),
    ):
        sides = (
            [Side("B working tree", PACKAGE_ROOT)]
            if skip
            else [Side(f"A {rev}@{sha[:10]}", base_root), Side("B working tree", PACKAGE_ROOT)]
        )
        n = 1 if skip else rounds
        for s in sides:
            s.tasks = plan_at(s.root, cfg.text, str(config_path), device, n)
            if args.models:
                s.tasks = restrict_tasks(s.tasks, args.models, reference)
        env = capture(device)
        meta = {"environment": env, "config": {"name": name, "reference_model": reference}}
        order = "".join("AB"[s] for _, s in round_order(n)) if not skip else "B"
        # --keep-run DIR keeps each side's rows as a run: DIR/side-A, DIR/side-B (analyze, report, export them)
        stores = [
            ResultStore.create(
                (keep or Path(tmp)) / f"side-{s.label[0]}", side_meta(s, cfg, env, device, rev, sha, order)
            )
            for s in sides
        ]
        print(
            f"A/B check: {n} round(s), order {order}; a fresh worker per model and side each round; "
            f"A = {rev} ({sha[:10]}), B = working tree",
            file=sys.stderr,
        )

        def progress(r: int, side: Side) -> None:
            print(f"  round {r + 1}/{n}: {side.label}", file=sys.stderr, flush=True)

        t0, started, done = time.perf_counter(), _now(), False
        try:
            # Another revision's worker may report columns this store does not have: events.Row drops them.
            run_rounds(sides, n, lambda i, row: stores[i].add(row), on_round=progress)
            frames = [st.dataframe() for st in stores]
            done = True
        finally:
            for st, s in zip(stores, sides, strict=True):
                record_session(st, s, started, time.perf_counter() - t0, interrupted=not done, order=order)
                st.close()
    key = device_key(env, device)
    counts = compare(
        stored,
        frames[-1],
        current_key=key,
        latency="off",
        models=args.models,
        reference_model=reference,
        baseline_path=str(counts_note),
    )
    if skip:
        report = counts
    else:
        doc = build_baseline(frames[0], meta, name=name, source=f"{rev}@{sha[:10]}", with_layers=False)
        for e in doc["entries"].values():
            e["counts"] = None  # counts are judged against the stored baseline (``counts``), not against A
        # No reference-model normalization: both sides ran interleaved on this machine now, so its speed is
        # the same for both; dividing by a reference would only add that model's noise and hide a slowdown of it.
        doc["reference_model"] = None
        latency = compare(
            doc,
            frames[1],
            current_key=key,
            latency=args.latency,
            rule=rule,
            reference_model=None,
            models=args.models,
            baseline_path=f"latency: A = {rev} ({sha[:10]}), measured now on this machine",
            name_layers=False,
        )
        latency.normalization = (
            f"no machine-speed normalization: A and B were measured now, interleaved, on this "
            f"machine{f' (reference_model {reference} is not needed)' if reference else ''}"
        )
        latency.notes.append(
            f"A/B in one job: {rounds} interleaved rounds ({order}) on this machine; a stored "
            "baseline's latency is never compared across machines (a device-key match is not a "
            "speed match)"
        )
        report = merge_counts(latency, counts)
    if keep is not None:
        report.notes.append(
            f"the A/B rows are kept in {keep}/side-A and {keep}/side-B (runs: analyze, report, export)"
            if not skip
            else f"the rows are kept in {keep}/side-B"
        )
    print(render(report, args.format))
    return report.exit_code


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def side_meta(
    side: Any,
    cfg: Any,
    env: dict[str, Any],
    device: str,
    rev: str,
    sha: str,
    order: str,
) -> dict[str, Any]:
    """``meta.json`` of one side's run, laid out as a sweep's (``profiler.results.runs``), so that ``--keep-run``
    leaves runs that analyze, report and export read like any other; ``run.ab`` says which side of which check."""
    is_a = side.label.startswith("A")
    return {
        "run": {
            "config_name": cfg.name,
            "device": device,
            "argv": sys.argv,
            "git_commit": sha if is_a else env.get("git_commit"),
            "started_at": _now(),
            "skipped": [],
            "side": side.label,
            "ab": {"side": side.label[0], "against": rev, "against_sha": sha, "order": order},
        },
        "environment": env,
        "config": cfg.to_dict(),
        "sessions": [],
    }


def record_session(store: Any, side: Any, started: str, wall_s: float, *, interrupted: bool, order: str) -> None:
    """Append the A/B job's session to one side's ``meta.json``: its rows, failures and timed seconds (the wall time
    is the whole interleaved job's, both sides); a run without a session reads as a killed sweep."""
    rows = store.rows()
    samples = [r.get("samples_ms") for r in rows if r.get("status") == "ok"]
    timed_s = sum(sum(json.loads(x) if isinstance(x, str) else x or []) for x in samples) / 1000.0
    doc = store.read_meta()
    doc.setdefault("sessions", []).append(
        {
            "started_at": started,
            "wall_s": round(wall_s, 4),
            "timed_s": round(timed_s, 6),
            "overhead_ratio": None,
            "rows": len(rows),
            "failed": sum(r.get("status") != "ok" for r in rows),
            "planned": len(side.tasks),
            "skipped_stored": 0,
            "argv": sys.argv,
            "interrupted": interrupted,
            "device": doc["run"]["device"],
            "ab_order": order,
        }
    )
    store.write_meta(doc)


def _keep_dir(keep_run: str | None) -> Path | None:
    """The --keep-run folder of an A/B check (its side-A / side-B runs must not exist yet), or None."""
    if not keep_run:
        return None
    keep = Path(keep_run)
    taken = [p for p in (keep / "side-A", keep / "side-B") if p.exists()]
    if taken or (keep.exists() and not keep.is_dir()):
        raise UsageError(
            f"--keep-run {keep}: {taken[0] if taken else keep} exists; A/B keeps its rows in "
            "DIR/side-A and DIR/side-B, so give a new or empty folder"
        )
    return keep


def merge_counts(latency: Any, counts: Any) -> Any:
    """One report: each setting's latency verdict (B vs A) with its counts verdict (B vs the stored baseline).

    A setting fails when either fails; settings only the counts comparison knows (missing or new against the
    stored baseline) are added as they are.
    """
    by_key = {e.key: e for e in counts.entries}
    for e in latency.entries:
        c = by_key.pop(e.key, None)
        if c is None:
            continue
        mine = [m for m in e.messages if m != "counts not recorded; not compared"]  # A carries no counts
        theirs = [m if c.verdict != "new" else "counts: not in the stored baseline" for m in c.messages]
        e.messages, e.counts_changed = [*theirs, *mine], c.counts_changed
        if c.verdict == "fail":
            e.verdict = "fail"
    latency.entries += [c for c in by_key.values()]
    latency.entries.sort(key=lambda e: e.key)
    latency.baseline_path = f"{latency.baseline_path}; {counts.baseline_path}"
    latency.notes += [n for n in counts.notes if n not in latency.notes]
    return latency
