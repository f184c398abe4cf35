"""Per-task cost estimates of a sweep, from measured per-phase costs.

A task's cost on the timing path is ``row_s + session + warm-up + timed``: timed = iters × latency, warm-up =
max(warmup_s, warmup_iters × latency) + the first-time cost of a (model, setting) in a process (cuDNN autotuning on
CUDA). ``session`` (ONNX Runtime): a fresh session's cost (creation, first run, check) on a row that creates one, a
reused session's cost on a row that follows a row of the same (model, resolution, graph dtype) in the same worker
(``profiler.timing.onnx.cached_session``; ``profiler.sweep.estimate_fit`` derives both). Costs shared by several tasks
are charged once: a worker process start (per ``group_key``), the model build (per model and run of consecutive
rows of it in a worker: the worker keeps one model), and — only when no prefetch pool does them beside the timing
worker — counting
(per spec and resolution) and the ONNX export (per spec and resolution with ``prepare_onnx``; per spec, resolution,
batch and graph dtype without it).

Latency comes, in this order, from a previous run on the same device key (the same spec and setting measured: its
median; else the built-in MAC model rescaled by the median measured/predicted ratio of that run's cell), else the
built-in MAC model ``latency_ms = a + b × GMACs(per image, at the resolution) × batch`` per (backend, dtype, batch 1
or more). The built-in constants live in ``BUILTIN`` and are derived (``estimate_fit``: ``fit_run``,
``derive_builtin``) from:

- CUDA: ``shared/gpu-runs/h200-20261128`` (committed as ``results/reference-h200-{eager,ort}-20261128``;
  NVIDIA H200, torch 2.11). ``gpu-eager``: 104 rows, 26 models — a, b by
  least squares per (dtype, batch); autotune = mean(warmup_s_done − max(warmup_s, warmup_iters × latency)) per
  (dtype, batch); ``row_s`` = mean(duration − warm-up − timed) over rows that were neither a worker's nor a
  model's first (76 rows: 0.18 s); a model's first row costs 1.1 s more (mean over 23 models): build + count, split
  0.6 + 0.5 s (the data does not separate them; counting on fake tensors is the lighter one on the CPU VM);
  ``worker_start_s`` = 4 s (sweep start → first row) + 7 s (a worker's first row's extra: CUDA context, first
  cuDNN handles). ``gpu-ort``: 12 rows, 3 models, too few to fit, so ONNX Runtime
  uses the eager a, b scaled by the measured ORT/eager ratios (see ``_H200``); a fresh session (creation + first
  run + check) per cell from ``estimate_fit.fresh_row_costs`` (0.63–2.66 s); a reused session: not measured yet,
  so charged as a fresh one (an upper bound: the run cannot split creation from the first run at a new batch);
  one export ≈ 6 s on the 16-core Xeon host (row start → session creation, cache misses).
- CPU: ``results/reference-quick-cpu-20261127`` (this project's 2-core VM, 1 thread): a, b per backend by least
  squares over 24 models; worker start 1.7 s (gap between one worker's last row and the next one's first);
  build + count 1.2 s per model; export 4.5 s (the two cache misses of that run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.sweep.tasks import Task

# torch.compile (inductor) of a mid-size network with a warm inductor cache: a rough figure (resnet18 at 224 px on
# the 2-core VM took 22 s warm, 89 s cold), not calibrated from measured compile_s columns yet.
COMPILE_S = {"cpu": 30.0, "cuda": 40.0}
# One export's cost relative to the calibrated (dynamo) ``export_s``, per ``[timing] exporter``:
# benchmarks/exporter_compare.py, 12 quick-cpu models at 112 px on the 2-core VM, median TorchScript/dynamo 0.078.
EXPORTER_COST = {"dynamo": 1.0, "torchscript": 0.08}
# (backend, dtype, "b1" | "bN") -> (a_ms, b_ms_per_gmac_batch, first-time autotune seconds)
Cells = dict[tuple[str, str, str], tuple[float, float, float]]


@dataclass(frozen=True)
class CostModel:
    """Calibrated per-phase costs of one device (see the module doc for where the numbers come from)."""

    device: str
    source: str
    cells: Cells
    row_s: float  # per row beyond load/warm-up/timed: model copy and move, result, bookkeeping
    load_s: dict[str, float]  # per fresh session and backend: creation + first run (ORT), 0 for eager
    worker_start_s: float  # a new timing process: interpreter, imports, device context
    build_s: float  # one model build in the timing worker
    count_s: float  # one count (spec, resolution)
    export_s: float  # one ONNX export
    measured_ms: dict[str, float] = field(default_factory=dict)  # setting key -> median latency (previous run)
    session_cells: dict[tuple[str, str, str], float] = field(default_factory=dict)  # fresh session, per cell
    reuse_cells: dict[tuple[str, str, str], float] = field(default_factory=dict)  # reused session (unset: as fresh)

    def session_s(self, task: Task, reused: bool) -> float:
        """Seconds of a row's session: fresh (creation, first run, check) or reused (first run at its batch)."""
        cell = (task.backend, *_dtype_batch(task))
        fresh = self.session_cells.get(cell, self.load_s.get(task.backend, 0.0))
        return self.reuse_cells.get(cell, fresh) if reused else fresh

    def latency_ms(self, task: Task, gmacs: float) -> float:
        """Latency per batch: a previous run's median for this exact setting, else the MAC model."""
        if (hit := self.measured_ms.get(setting_key(task))) is not None:
            return hit
        a, b, _ = self._cell(task)
        return a + b * gmacs * task.batch

    def autotune_s(self, task: Task) -> float:
        return self._cell(task)[2]

    def _cell(self, task: Task) -> tuple[float, float, float]:
        dtype, bclass = _dtype_batch(task)
        for key in ((task.backend, dtype, bclass), ("eager", dtype, bclass), ("eager", "fp32", bclass)):
            if key in self.cells:
                return self.cells[key]
        return next(iter(self.cells.values()))


def _dtype_batch(task: Task) -> tuple[str, str]:
    return ("fp16" if task.dtype in ("fp16", "bf16", "amp") else "fp32", "b1" if task.batch == 1 else "bN")


def setting_key(t: Task | dict[str, Any]) -> str:
    g = t.__getitem__ if isinstance(t, dict) else lambda k: getattr(t, k)
    return (
        f"{g('spec_hash')}|{g('backend')}|{g('dtype')}|b{int(g('batch'))}|r{int(g('resolution'))}"
        f"|{g('memory_format') or 'contiguous'}"
    )


_H200 = {
    ("eager", "fp32", "b1"): (8.00, 0.042, 0.11),
    ("eager", "fp16", "b1"): (9.69, 0.078, 1.93),
    ("eager", "fp32", "bN"): (8.17, 0.067, 1.61),
    ("eager", "fp16", "bN"): (8.75, 0.010, 1.55),
}
# ONNX Runtime on the H200: latency = eager's × (0.5 at batch 1, 1.1 at batch 64) — the ORT/eager ratios of the two
# models measured both ways (se_resnet50, densenet121) were 0.28–0.64 at batch 1 and 0.93–1.37 at batch 64; rounded
# up. No autotune term: ORT's cuDNN search happens in the session's first run, inside load_s.
_H200 |= {
    ("onnxruntime", d, bc): (a * r, b * r, 0.0)
    for (_, d, bc), (a, b, _) in list(_H200.items())
    for r in [0.5 if bc == "b1" else 1.1]
}
# Fresh ONNX Runtime sessions on the H200 (estimate_fit.fresh_row_costs of gpu-ort), seconds.
_H200_SESSIONS = {
    ("onnxruntime", "fp32", "b1"): 0.63,
    ("onnxruntime", "fp32", "bN"): 1.26,
    ("onnxruntime", "fp16", "b1"): 1.56,
    ("onnxruntime", "fp16", "bN"): 2.66,
}
_VM_CPU = {("eager", "fp32", "b1"): (3.55, 28.4, 0.0), ("onnxruntime", "fp32", "b1"): (0.62, 11.3, 0.0)}
BUILTIN: dict[str, CostModel] = {
    "cuda": CostModel(
        "cuda",
        "built-in: NVIDIA H200 run of 2026-11-28 (shared/gpu-runs/h200-20261128)",
        _H200,
        row_s=0.18,
        load_s={"eager": 0.0, "onnxruntime": 1.53},
        worker_start_s=11.0,
        build_s=0.6,
        count_s=0.5,
        export_s=6.0,
        session_cells=_H200_SESSIONS,
    ),
    "cpu": CostModel(
        "cpu",
        "built-in: results/reference-quick-cpu-20261127 (2-core VM, 1 thread)",
        _VM_CPU,
        row_s=0.05,
        load_s={"eager": 0.0, "onnxruntime": 0.08},
        worker_start_s=1.7,
        build_s=0.4,
        count_s=0.8,
        export_s=4.5,
    ),
}


@dataclass
class Estimate:
    """Per-task costs on the timing path, shared costs charged once, and how the prefetch pool overlaps them."""

    cost_s: dict[str, float]  # task key -> seconds of its own
    shared_s: dict[str, float]  # shared item -> seconds (worker starts, builds, counts/exports on the path)
    shared_of: dict[str, list[str]]  # task key -> the shared items it needs
    prep_s: dict[str, float]  # prefetch-pool work per (spec, resolution), off the timing path
    prep_workers: int
    prep_mode: str
    model: CostModel
    gmacs_of: Callable[[Task], float]
    parts_of: dict[str, dict[str, float]] = field(default_factory=dict)  # task key -> its cost_s by component

    def total_s(self, keys: Iterable[str]) -> float:
        """Estimated wall seconds of running ``keys``: timing path, plus the pool's work that cannot hide."""
        keys = list(keys)
        items = {s for k in keys for s in self.shared_of.get(k, ())}
        path = sum(self.cost_s[k] for k in keys) + sum(self.shared_s.get(s, 0.0) for s in items)
        preps = {s.split(":", 1)[1] for s in items if s.startswith("prep:")}
        pool = sum(self.prep_s.get(p, 0.0) for p in preps) / max(1, self.prep_workers)
        if self.prep_mode == "before":
            return path + pool
        if self.prep_mode == "overlap":  # hidden behind timing, except the first pair and any excess
            first = max((self.prep_s.get(p, 0.0) for p in preps), default=0.0)
            return max(path, pool) + first
        return path


def estimate(
    tasks: list[Task],
    model: CostModel,
    gmacs_of: Callable[[Task], float],
    *,
    prep_mode: str = "off",
    prep_workers: int = 1,
    prepare_onnx: bool = False,
    export_cached: Callable[[Task], bool] | None = None,
) -> Estimate:
    """Per-task costs of ``tasks`` (in run order: first-time autotuning is charged where it happens).

    ``export_cached(task)``: the task's ONNX graph is already in the cache (no export is charged for it).
    """
    cost: dict[str, float] = {}
    shared: dict[str, float] = {}
    shared_of: dict[str, list[str]] = {}
    prep: dict[str, float] = {}
    parts_of: dict[str, dict[str, float]] = {}
    tuned: set[tuple[str, str]] = set()
    worker_model: dict[str, tuple[str, int]] = {}  # group -> (spec held, how many model switches so far)
    worker_session: dict[str, tuple] = {}  # group -> the ORT session it holds (profiler.timing.onnx.cached_session)
    pooled = prep_mode in ("overlap", "before")
    for t in tasks:
        lat_s = model.latency_ms(t, gmacs_of(t)) / 1000
        timing = t.timing
        floor = max(float(timing.get("warmup_s", 0.2)), int(timing.get("warmup_iters", 3)) * lat_s)
        setting = (t.group_key, setting_key(t))
        tune = 0.0
        if setting not in tuned:  # a process tunes a (model, setting) once; a new process tunes again
            tuned.add(setting)
            tune = model.autotune_s(t)
        held, switches = worker_model.get(t.group_key, (None, -1))
        if held != t.spec_hash:  # the worker keeps one model: a switch rebuilds it and drops its ORT session
            worker_model[t.group_key] = (t.spec_hash, switches := switches + 1)
            worker_session.pop(t.group_key, None)
        session = 0.0
        if t.backend == "onnxruntime":
            skey = (t.spec_hash, t.resolution, "fp16" if t.dtype == "fp16" else "fp32")
            reused = worker_session.get(t.group_key) == skey and not timing.get("ort_cuda_graph")
            worker_session[t.group_key] = skey
            session = model.session_s(t, reused)
        timed = int(timing.get("iters", 30)) * lat_s
        if float(timing.get("ci_target", 0) or 0) > 0:  # adaptive timing: at most its cap (an upper bound)
            timed = max(timed, float(timing.get("max_timed_s", 0) or 0))
        parts = {"row_s": model.row_s, "session_s": session, "warmup_s": floor, "autotune_s": tune, "timed_s": timed}
        if t.backend == "compile":  # inductor compiles per task (never timed as latency); not calibrated yet
            parts["compile_s"] = COMPILE_S.get(t.device, 40.0)
        parts_of[t.key] = parts
        cost[t.key] = sum(parts.values())
        pk = t.prep_key
        items = [f"worker:{t.group_key}", f"build:{t.group_key}:{t.spec_hash}:{switches}"]
        shared[items[0]] = model.worker_start_s
        shared[items[1]] = model.build_s
        p = prep.setdefault(pk, 0.0)
        if t.count and f"count:{pk}" not in shared:
            shared[f"count:{pk}"] = 0.0 if pooled else model.count_s
            prep[pk] = p + model.count_s
        if t.count:
            items.append(f"count:{pk}")
        if t.backend == "onnxruntime" and not (export_cached and export_cached(t)):
            graph = "fp16" if t.dtype == "fp16" else "fp32"
            export_s = model.export_s * EXPORTER_COST.get(timing.get("exporter", "dynamo"), 1.0)
            if pooled and prepare_onnx:  # one export per (spec, resolution) in the pool (fp16 derived: +1/6)
                ek = f"export:{pk}"
                if ek not in shared:
                    shared[ek] = 0.0
                    prep[pk] += export_s * (1.0 if graph == "fp32" else 1.17) + model.build_s
            else:  # today's path: one export per (spec, resolution, batch, graph dtype), in the timing worker
                ek = f"export:{pk}_b{t.batch}_{graph}"
                shared[ek] = export_s
            items.append(ek)
        if pooled:
            items.append(f"prep:{pk}")
        shared_of[t.key] = items
    return Estimate(
        cost, shared, shared_of, prep, prep_workers, prep_mode if pooled else "off", model, gmacs_of, parts_of
    )


def gmacs_lookup(tasks: list[Task], config: Any, cache_dir: Path | str | None = None) -> Callable[[Task], float]:
    """GMACs per image at each task's resolution: the model's exact count at 224 px, scaled by r².

    The count is ``counting``'s own (``CountCache``, the same pass as the sweep's rows), cached under
    ``$ARCHPROF_CACHE/counts`` beside the counts of imported tables: one MAC count, one cache (issue 23)."""
    from profiler.core import paths
    from profiler.counting.cache import CountCache

    counts = CountCache(Path(cache_dir) / paths.COUNTS_DIR if cache_dir else paths.cache_dir(paths.COUNTS_DIR))
    macs: dict[str, float] = {}
    for t in tasks:
        if t.spec_hash not in macs:
            macs[t.spec_hash] = _macs_224(counts, paths.count_key(t.spec_hash, 224), config.models[t.model].spec)
    return lambda t: macs[t.spec_hash] * (t.resolution / 224) ** 2 / 1e9


def _macs_224(counts: Any, key: str, spec: Any) -> float:
    try:
        return float(counts.count(key, spec, 224)["macs"])
    except Exception:  # an estimate must not stop planning (e.g. a model that cannot run at 224): mid-size
        return 2e9
