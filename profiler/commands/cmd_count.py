"""``profiler count MODEL [--resolution R] [--batch B] [--dtype D] [--per-layer] [--json|--csv]``: MACs, params,
activations, ops and memory traffic.

``bytes`` is the traffic of one forward of the whole batch at ``--dtype`` (``counting.opclass``: activations × batch
at their element size, weights once per batch; default fp32, the historical meaning at batch 1); the JSON also
splits it per op class (``by_class``: ops, MACs, bytes).

Also ``profiler count --all --write-golden tests/golden/counts.json`` (regenerate the golden counts) and
``profiler count --space anynetx_e --samples 10000`` (closed-form counts of sampled specs, reports samples/s).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from profiler.commands.common import MODEL_HELP, add_model_kwargs, one_line, print_json, resolve_model
from profiler.core.errors import UsageError

if TYPE_CHECKING:
    from profiler.counting import Counts


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("count", help="count MACs, params and activations of a model")
    p.add_argument("model", nargs="?", help=MODEL_HELP + "; with --all a pattern, e.g. 'timm:resnet*'")
    p.add_argument("--resolution", type=int, default=None, help="input height=width (default: the model's own)")
    p.add_argument("--batch", type=int, default=1, help="batch size (macs and acts scale with it; params do not)")
    p.add_argument(
        "--dtype",
        default="fp32",
        help="element sizes of bytes: fp32 tf32 fp16 bf16 amp (autocast's op lists) (default fp32)",
    )
    p.add_argument("--per-layer", action="store_true", help="add one row per module")
    add_model_kwargs(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON object")
    fmt.add_argument("--csv", action="store_true", help="print CSV (totals, or per-module rows with --per-layer)")
    p.add_argument(
        "--method",
        choices=("fvcore", "torch"),
        default=None,
        help="torch (default): one shapes-only pass of the dispatch counter on meta tensors, no kernels run; "
        "fvcore: its jit tracer, which runs real kernels (minutes at large resolutions; the reference)",
    )
    p.add_argument(
        "--cross-check",
        action="store_true",
        help="one model: count with both methods and say whether fvcore's MACs agree",
    )
    p.add_argument("--strict", action="store_true", help="fail if an op that may carry MACs went uncounted")
    p.add_argument("--all", action="store_true", help="every registered model at its default resolution")
    p.add_argument("--write-golden", metavar="PATH", help="with --all: write the golden counts file")
    p.add_argument("--space", help="design space to sample (closed-form counts), e.g. anynetx_e")
    p.add_argument("--samples", type=int, default=1000, help="with --space: how many specs")
    p.add_argument("--seed", type=int, default=0, help="with --space: sampling seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.space:
        return _run_space(args)
    if args.all:
        return _run_all(args)
    if not args.model:
        raise UsageError("give a MODEL, --all or --space SPACE")
    if args.write_golden:
        raise UsageError("--write-golden needs --all")
    return _run_one(args)


def _count(name: str, args: argparse.Namespace, resolution: int | None, batch: int) -> tuple[int, Counts]:
    from profiler.counting import CountingError, check_resolution, count_model

    info = resolve_model(name, args.model_kwargs)
    resolution = info.resolution if resolution is None else resolution
    try:
        check_resolution(info.spec, resolution)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None
    if batch < 1:
        raise UsageError(f"--batch must be >= 1, got {batch}")
    try:
        with _progress(f"counting {name} at {resolution} px, batch {batch}, with {args.method}"):
            return resolution, count_model(info, resolution, batch, strict=args.strict, method=args.method)
    except (CountingError, ValueError) as exc:  # ValueError: an external factory failed (its reason)
        raise UsageError(one_line(str(exc))) from None


@contextlib.contextmanager
def _progress(what: str, after_s: float = 3.0, every_s: float = 10.0) -> Iterator[None]:
    """Say on stderr what is being done once it has taken ``after_s``, then how long, every ``every_s``."""
    done = threading.Event()
    t0 = time.perf_counter()

    def beat() -> None:
        wait = after_s
        while not done.wait(wait):
            print(f"{what}: {time.perf_counter() - t0:.0f} s so far…", file=sys.stderr, flush=True)
            wait = every_s

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _traffic(c: Counts, dtype: str) -> dict:
    """``bytes`` at ``dtype`` (the table is counted at the batch: act_elems include it) and the per-class split."""
    from profiler.counting.opclass import traffic_by_class, traffic_bytes

    return {
        "dtype": dtype,
        "bytes": traffic_bytes(c.op_table, 1, dtype),
        "by_class": traffic_by_class(c.op_table, 1, dtype),
    }


def _check_dtype(dtype: str) -> None:
    from profiler.counting.opclass import check_dtype

    try:
        check_dtype(dtype)
    except ValueError as exc:
        raise UsageError(f"--dtype: {exc}") from None


def _run_one(args: argparse.Namespace) -> int:
    # The dispatch counter gives fvcore's numbers (tests/counting/test_counting_golden.py binds them on every model) in
    # seconds where fvcore's tracer, which runs the kernels, took 351 s for resnet50 at 10000 px.
    args.method = args.method or "torch"
    if args.cross_check and args.method == "fvcore":
        raise UsageError("--cross-check counts with torch and checks against fvcore; drop --method fvcore")
    _check_dtype(args.dtype)
    resolution, c = _count(args.model, args, args.resolution, args.batch)
    if args.cross_check:
        _cross_check(args, resolution, c)
    obj = {
        "model": args.model,
        "resolution": resolution,
        "batch": args.batch,
        "method": args.method,
        **c.to_dict(per_layer=args.per_layer),
        **_traffic(c, args.dtype),
    }
    if args.json:
        print_json(obj)
    elif args.csv:
        _print_csv(obj, args.per_layer)
    else:
        _print_table([obj])
        if args.per_layer:
            _print_layers(obj["layers"])
        if c.uncounted_ops:
            ops = ", ".join(f"{k} ×{v}" for k, v in sorted(c.uncounted_ops.items()))
            print(f"ops without a MAC rule (0 MACs): {ops}")
    return 0


def _cross_check(args: argparse.Namespace, resolution: int, c: Counts) -> None:
    """Count again with fvcore's tracer and say whether its MACs equal the dispatch counter's (stderr)."""
    ref_args = argparse.Namespace(**{**vars(args), "method": "fvcore"})
    _, ref = _count(args.model, ref_args, resolution, args.batch)
    same = ref.macs == c.macs
    print(
        f"cross-check: fvcore macs {ref.macs:,} {'==' if same else '!='} torch macs {c.macs:,}"
        + ("" if same else f" (difference {c.macs - ref.macs:+,})"),
        file=sys.stderr,
    )


def _run_all(args: argparse.Namespace) -> int:
    import models
    from profiler.counting.golden import golden_counts, write_golden

    # The golden test binds the two methods on every model, so the fast one is safe for the whole registry.
    args.method = args.method or "torch"
    try:
        names = models.list_models(args.model or "*")
    except ValueError as exc:  # an external pattern whose library is missing, or a wildcard on user code
        raise UsageError(one_line(str(exc))) from None
    if not names:
        raise UsageError(f"{args.model!r} matches no model; see `python -m profiler list`")
    if args.write_golden:
        doc = golden_counts(names, method=args.method)
        write_golden(args.write_golden, doc)
        print(f"wrote {len(names)} models to {args.write_golden}", file=sys.stderr)
        return 0
    _check_dtype(args.dtype)
    rows = []
    with _progress(f"counting {len(names)} models with {args.method}"):
        for n in names:
            resolution, c = _count(n, args, None, args.batch)
            rows.append(
                {"model": n, "resolution": resolution, "batch": args.batch, **c.to_dict(), **_traffic(c, args.dtype)}
            )
    if args.json:
        print_json(rows)
    elif args.csv:
        keys = ["model", "resolution", "batch", "macs", "params", "acts", "acts_all", "ops", "bytes"]
        w = csv.DictWriter(sys.stdout, keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    else:
        _print_table(rows)
    return 0


def _run_space(args: argparse.Namespace) -> int:
    import models

    if args.space not in models.SPACES:
        raise UsageError(f"unknown space {args.space!r}; valid: {', '.join(sorted(models.SPACES))}")
    if args.samples < 1:
        raise UsageError(f"--samples must be >= 1, got {args.samples}")
    t0 = time.perf_counter()
    specs = models.sample(args.space, args.samples, args.seed)
    t1 = time.perf_counter()
    counts = [s.complexity(args.resolution or 224) for s in specs]
    t2 = time.perf_counter()
    rate = len(specs) / (t2 - t0)
    mean = {k: sum(c[k] for c in counts) / len(counts) for k in ("macs", "params", "acts")}
    obj = {
        "space": args.space,
        "samples": len(specs),
        "seed": args.seed,
        "sample_s": t1 - t0,
        "complexity_s": t2 - t1,
        "samples_per_s": rate,
        **{f"mean_{k}": v for k, v in mean.items()},
    }
    if args.json:
        print_json(obj)
    else:
        print(
            f"{args.space}: {len(specs)} specs sampled and counted in {t2 - t0:.2f} s "
            f"({rate:,.0f} samples/s; sampling {t1 - t0:.2f} s, complexity {t2 - t1:.2f} s)"
        )
        print(
            f"mean: {mean['macs'] / 1e6:,.1f} M macs, {mean['params'] / 1e6:.2f} M params, "
            f"{mean['acts'] / 1e6:.2f} M acts"
        )
    return 0


def _print_table(rows: list[dict]) -> None:
    width = max(len("model"), *(len(r["model"]) for r in rows))
    print(
        f"{'model':<{width}}  {'res':>4} {'batch':>5} {'GMACs':>9} {'Mparams':>9} {'Macts':>9} {'Macts_all':>10} "
        f"{'ops':>6} {'MB moved':>9}"
    )
    for r in rows:
        print(
            f"{r['model']:<{width}}  {r['resolution']:>4} {r['batch']:>5} {r['macs'] / 1e9:>9.3f} "
            f"{r['params'] / 1e6:>9.3f} {r['acts'] / 1e6:>9.3f} {r['acts_all'] / 1e6:>10.3f} "
            f"{r['ops']:>6} {r['bytes'] / 1e6:>9.1f}"
        )


def _print_layers(layers: list[dict]) -> None:
    width = max(len("module"), *(len(r["name"] or "(root)") for r in layers))
    print(f"\n{'module':<{width}}  {'type':<18} {'output shape':<22} {'MMACs':>9} {'Kparams':>9} {'Kacts':>9}")
    for r in layers:
        shape = "x".join(map(str, r["output_shape"])) if r["output_shape"] else "-"
        print(
            f"{r['name'] or '(root)':<{width}}  {r['type']:<18} {shape:<22} {r['macs'] / 1e6:>9.3f} "
            f"{r['params'] / 1e3:>9.3f} {r['acts'] / 1e3:>9.3f}"
        )


def _print_csv(obj: dict, per_layer: bool) -> None:
    if per_layer:
        w = csv.DictWriter(sys.stdout, ["name", "type", "output_shape", "macs", "params", "acts"])
        w.writeheader()
        for r in obj["layers"]:
            w.writerow({**r, "output_shape": "x".join(map(str, r["output_shape"] or []))})
        return
    keys = ["model", "resolution", "batch", "macs", "params", "acts", "acts_all", "ops", "bytes"]
    w = csv.DictWriter(sys.stdout, keys, extrasaction="ignore")
    w.writeheader()
    w.writerow(obj)
