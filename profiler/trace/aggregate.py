"""``torch.profiler`` events → per-module rows and per-iteration totals (pure: events in, plain data out).

Each profiled iteration is one ``archprof.step`` range; each module call one ``archprof.module::<name>`` range
(``hooks.ModuleRanges``). An operator is *top-level* when no other operator encloses it (``aten::conv2d``, not the
``aten::convolution`` it calls): that is one dispatch from Python, and it belongs to the innermost module range
around it — a module's *own* operators (a residual add belongs to the block, the convs to their conv modules).

Per module and iteration:
- ``cpu_ms``: host wall time inside the module's ranges minus its sub-modules' ranges (Python, dispatch, launches;
  on CPU the computation too), profiler overhead included;
- ``device_ms``: on CUDA the summed duration of the kernels (and memcpy/memset) its operators launched; on CPU the
  time inside its top-level operators (there is no separate device);
- ``n_ops`` top-level operators, ``n_kernels`` device activities (0 on CPU).

Idle fraction, per iteration: on CUDA 1 − (union of the device activity intervals) / (first start to last end),
the share of the device's busy span in which it waited; on CPU 1 − (time inside top-level operators) / (the step's
host wall time), the share of the step spent outside aten (Python, module calls, profiler overhead).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from profiler.trace.hooks import MODULE_PREFIX, STEP_NAME


class TraceError(RuntimeError):
    """The profile holds nothing to aggregate (no steps, no operators, no kernels on CUDA)."""


def _is_cpu(e: Any) -> bool:
    return str(getattr(e, "device_type", "CPU")).rsplit(".", 1)[-1] == "CPU"


def _is_range(e: Any) -> bool:
    return e.name == STEP_NAME or e.name.startswith(MODULE_PREFIX)


def _is_op(e: Any) -> bool:
    # Operators are namespaced ("aten::add"); runtime calls (cudaLaunchKernel, cudaDeviceSynchronize) are not.
    return "::" in e.name and not _is_range(e)


def _start(e: Any) -> float:
    return float(e.time_range.start)


def _dur(e: Any) -> float:
    return float(e.time_range.end - e.time_range.start)


def _enclosing(e: Any) -> Any:
    """The nearest enclosing range or operator (other user annotations are looked through)."""
    p = e.cpu_parent
    while p is not None and not (_is_range(p) or _is_op(p)):
        p = p.cpu_parent
    return p


def _module_of(e: Any) -> str | None:
    p = e.cpu_parent
    while p is not None and not p.name.startswith(MODULE_PREFIX):
        p = p.cpu_parent
    return None if p is None else p.name.removeprefix(MODULE_PREFIX)


def _kernels(e: Any) -> tuple[float, int]:
    """(µs, count) of the device activities launched by ``e`` and the operators it called."""
    total, n = sum(float(k.duration) for k in e.kernels), len(e.kernels)
    for c in e.cpu_children:
        t, m = _kernels(c)
        total, n = total + t, n + m
    return total, n


def _union_us(intervals: list[tuple[float, float]]) -> float:
    busy, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e > end:
            busy += e - max(s, end)
            end = e
    return busy


def aggregate(events: list[Any], device: str, types: dict[str, str] | None = None) -> dict[str, Any]:
    """Per-module rows (all times per iteration, ms) and totals of a profile; ``TraceError`` when it is empty."""
    cpu = [e for e in events if _is_cpu(e)]
    steps = sorted((e for e in cpu if e.name == STEP_NAME), key=_start)
    if not steps:
        raise TraceError("the profiler recorded no events of the profiled iterations; nothing to attribute")
    n = len(steps)
    top_ops = [e for e in cpu if _is_op(e) and (p := _enclosing(e)) is not None and _is_range(p)]
    if not top_ops:
        raise TraceError(f"the profiler recorded {len(steps)} iterations but no operator events in them")
    # Device activities of the profiled iterations (a kernel starts after its step's range opens).
    dev = [e for e in events if not _is_cpu(e) and _dur(e) >= 0 and _start(e) >= _start(steps[0])]
    if device == "cuda" and not dev:
        raise TraceError("the profiler recorded no CUDA kernels (is CUPTI available to torch.profiler?)")

    rows: dict[str, dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(("calls", "cpu_ms", "device_ms", "n_ops", "n_kernels"), 0.0)
    )
    for m in (e for e in cpu if e.name.startswith(MODULE_PREFIX)):
        label = m.name.removeprefix(MODULE_PREFIX)
        rows[label]["calls"] += 1
        rows[label]["cpu_ms"] += _dur(m) / 1e3
        parent = _module_of(m)
        if parent is not None:
            rows[parent]["cpu_ms"] -= _dur(m) / 1e3  # own time: the sub-module's range is not the parent's
    in_ops_us = 0.0
    for op in top_ops:
        in_ops_us += _dur(op)
        label = _module_of(op)
        if label is None:
            continue  # between the step and the model's range (the per-iteration synchronize on CUDA)
        k_us, k_n = _kernels(op)
        r = rows[label]
        r["n_ops"] += 1
        r["n_kernels"] += k_n
        r["device_ms"] += (k_us if device == "cuda" else _dur(op)) / 1e3

    per_iter = []
    starts = [_start(s) for s in steps] + [float("inf")]
    for i, s in enumerate(steps):
        ivs = [(_start(k), float(k.time_range.end)) for k in dev if starts[i] <= _start(k) < starts[i + 1]]
        if device == "cuda":
            busy = _union_us(ivs)
            span = (max(e for _, e in ivs) - min(b for b, _ in ivs)) if ivs else 0.0
        else:
            busy = sum(_dur(op) for op in top_ops if starts[i] <= _start(op) < starts[i + 1])
            span = _dur(s)
        per_iter.append(
            {
                "step_ms": _dur(s) / 1e3,
                "busy_ms": busy / 1e3,
                "span_ms": span / 1e3,
                "idle_fraction": (1 - busy / span) if span > 0 else None,
            }
        )
    busy_total = sum(p["busy_ms"] for p in per_iter)
    span_total = sum(p["span_ms"] for p in per_iter)
    layers = []
    for label, r in rows.items():
        if r["n_ops"] == 0:
            continue  # a container with no operators of its own
        layers.append(
            {
                "name": label,
                "type": (types or {}).get(label, "?"),
                "calls": r["calls"] / n,
                "cpu_ms": max(r["cpu_ms"], 0.0) / n,
                "device_ms": r["device_ms"] / n,
                "n_ops": r["n_ops"] / n,
                "n_kernels": r["n_kernels"] / n,
            }
        )
    layers.sort(key=lambda r: (-r["device_ms"], r["name"]))
    totals = {
        "iterations": n,
        "step_ms": sum(p["step_ms"] for p in per_iter) / n,
        "device_ms": (sum(_dur(k) for k in dev) if device == "cuda" else in_ops_us) / 1e3 / n,
        "device_busy_ms": busy_total / n,
        "n_ops": len(top_ops) / n,
        "n_kernels": len(dev) / n,
        "idle_fraction": (1 - busy_total / span_total) if span_total > 0 else None,
        # The device's busy share of the whole step (host wall time, synchronize included): low when the host is
        # the bottleneck even before the first kernel starts, which the idle fraction does not see.
        "busy_fraction_of_step": busy_total / sum(p["step_ms"] for p in per_iter) if per_iter else None,
        "idle_definition": (
            "1 - union of kernel intervals / span from first kernel start to last kernel end, per iteration"
            if device == "cuda"
            else "1 - time inside top-level aten operators / step wall time (host time outside aten: Python, "
            "module calls, profiler overhead); a CPU has no separate device to idle"
        ),
    }
    return {"totals": totals, "per_iteration": per_iter, "layers": layers}
