"""Which ONNX graphs a request needs, made once per (spec, resolution) on the CPU, checked before they are kept.

Order of preference, recorded as ``export_path`` in every entry's meta (and so in every result row):

- ``dynamic-fp32``: one export with a symbolic batch axis serves every batch of fp32 and tf32.
- ``dynamic-fp16-converted``: the fp16 graph is the fp32 graph converted by onnxconverter-common (no second export).
- ``dynamic-fp16-exported``: the converter failed or its graph failed the check → one direct fp16 export.
- ``static-fallback``: the dynamic graph could not be made or failed its check → one export per batch, as before;
  ``dynamic_fallback_reason`` says why.

The check (here, on the CPU with ONNX Runtime) runs the graph on the entry's fixed reference input at batch
``REF_BATCH`` (the export's example batch) and at batch 1, and compares with eager fp32 on the same input: a graph
that baked the example batch into a reshape fails at batch 1. Timing checks the graph again on its own device.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError
from profiler.timing.onnx_cache import Entry, entry_dir, load_entry, publish, save_reference, staging
from profiler.timing.onnx_export import GRAPH_DTYPE, convert_to_fp16, default_cache_dir, export_graph, exporter_order
from profiler.timing.protocol import OUTPUT_RTOL, OutputMismatchError

# The reference input: REF_BATCH seeded images. Batch 2, not 1: torch.export specialises a size-1 example axis.
REF_BATCH, REF_SEED = 2, 0
_REASON_CHARS = 1500


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_REASON_CHARS]


def reference_io(model: Any, resolution: int) -> tuple[Any, Any]:
    """(input, eager fp32 output) on the CPU for the fixed seeded reference input of ``model`` (fp32, eval)."""
    import torch

    from profiler.timing.eager import make_input

    x = make_input(REF_BATCH, resolution, "cpu", "fp32", "contiguous", seed=REF_SEED)
    with torch.inference_mode():
        y = model(x)
    return x.numpy(), y.float().numpy()


def check_graph(path: Path, ref_in: Any, ref_out: Any, graph_dtype: str) -> float:
    """Largest scale-relative error of ORT (CPU, one thread) against the reference, at batch REF_BATCH and 1.

    OutputMismatchError when it exceeds the dtype's tolerance; ORT's own errors propagate.
    """
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # the check runs beside a timing process: keep off its cores
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    np_dtype = np.float16 if graph_dtype == "fp16" else np.float32
    scale = max(float(np.abs(ref_out).max()), 1e-6)
    worst = 0.0
    for n in (REF_BATCH, 1):
        (out,) = session.run(None, {session.get_inputs()[0].name: ref_in[:n].astype(np_dtype)})
        out = out.astype(np.float32)
        if out.shape != ref_out[:n].shape:
            raise OutputMismatchError(f"graph output shape {out.shape} at batch {n}, expected {ref_out[:n].shape}")
        err = float(np.abs(out - ref_out[:n]).max()) / scale if np.isfinite(out).all() else float("inf")
        worst = max(worst, err)
    if not worst <= OUTPUT_RTOL[graph_dtype]:
        raise OutputMismatchError(
            f"{graph_dtype} graph differs from eager fp32 by {worst:.3g} of the output scale on the CPU check "
            f"(tolerance {OUTPUT_RTOL[graph_dtype]:g})"
        )
    return worst


def _checked(path: Path, ref_in: Any, ref_out: Any, graph_dtype: str) -> dict[str, Any]:
    """``check_graph`` for an entry's meta: its error, and ``ort_log_check`` when ONNX Runtime printed anything."""
    from profiler.timing.fdcapture import FdCapture, summary_of

    capture = FdCapture(2)
    with capture.capturing():
        err = check_graph(path, ref_in, ref_out, graph_dtype)
    log = summary_of(capture)
    return {"cpu_check_error_rel": err} | ({"ort_log_check": log} if log and log["lines"] > 0 else {})


def _cpu_fp32(model: Any, resolution: int) -> tuple[Any, dict[str, Any]]:
    """The model on the CPU in fp32 with batch-norm statistics from data (``calibrate``: else the check of a deep
    depthwise network is vacuous), and the calibration's details for the entry's meta."""
    from profiler.timing.calibrate import calibrate_bn
    from profiler.timing.eager import prepare

    model = prepare(model, "cpu", "fp32", "contiguous")
    return model, calibrate_bn(model, resolution)


def _half_copy(model: Any) -> Any:
    from profiler.timing.eager import prepare

    return prepare(copy.deepcopy(model), "cpu", "fp16", "contiguous")  # the caller keeps its fp32 model


def _base_meta(resolution: int, graph_dtype: str) -> dict[str, Any]:
    return {"graph_dtype": graph_dtype, "resolution": resolution}


def _dynamic_fp32(model: Any, final: Path, cache_dir: Path, resolution: int, opset: int | None, exporter: str) -> Entry:
    import torch

    with staging(cache_dir) as stage:
        t0 = time.perf_counter()
        model, cal = _cpu_fp32(model, resolution)
        ref_in, ref_out = reference_io(model, resolution)
        save_reference(stage, ref_in, ref_out)
        meta = _base_meta(resolution, "fp32") | {"bn_calibration": cal}
        try:
            meta |= export_graph(
                model,
                torch.from_numpy(ref_in),
                stage / "model.onnx",
                dynamic=True,
                opset=opset,
                exporters=exporter_order(exporter),
            )
            meta |= _checked(stage / "model.onnx", ref_in, ref_out, "fp32") | {"export_path": "dynamic-fp32"}
        except Exception as exc:  # any failure of the dynamic path: record it, the static fallback takes over
            (stage / "model.onnx").unlink(missing_ok=True)
            meta |= {"export_path": "static-fallback", "failed": _why(exc)}
        return publish(stage, final, meta | {"export_s": time.perf_counter() - t0})[0]


def _dynamic_fp16(
    model: Any, fp32: Entry, final: Path, cache_dir: Path, resolution: int, opset: int | None, exporter: str
) -> Entry:
    import torch

    with staging(cache_dir) as stage:
        t0 = time.perf_counter()
        meta = _base_meta(resolution, "fp16")
        if fp32.graph is None:
            meta |= {"export_path": "static-fallback", "failed": f"no dynamic fp32 graph: {fp32.meta.get('failed')}"}
            return publish(stage, final, meta | {"export_s": time.perf_counter() - t0})[0]
        ref_in, ref_out = fp32.reference()
        save_reference(stage, ref_in, ref_out)  # the converted graph holds the fp32 entry's weights
        try:
            conv = convert_to_fp16(fp32.graph, stage / "model.onnx")
            checked = _checked(stage / "model.onnx", ref_in, ref_out, "fp16")
            keep = {
                k: fp32.meta.get(k)
                for k in (
                    "exporter",
                    "opset",
                    "fallback_reason",
                    "exported_with_torch",
                    "batch_axis",
                    "static_batch",
                    "bn_calibration",
                )
            }
            meta |= keep | conv | checked | {"export_path": "dynamic-fp16-converted"}
        except Exception as conv_exc:
            (stage / "model.onnx").unlink(missing_ok=True)
            meta["fp16_conversion_failed"] = _why(conv_exc)
            try:
                # A direct export holds the weights of the model at hand, which need not be the fp32 entry's.
                model, cal = _cpu_fp32(model, resolution)
                meta["bn_calibration"] = cal
                ref_in, ref_out = reference_io(model, resolution)
                save_reference(stage, ref_in, ref_out)
                meta |= export_graph(
                    _half_copy(model),
                    torch.from_numpy(ref_in).half(),
                    stage / "model.onnx",
                    dynamic=True,
                    opset=opset,
                    exporters=exporter_order(exporter),
                )
                meta |= _checked(stage / "model.onnx", ref_in, ref_out, "fp16") | {
                    "export_path": "dynamic-fp16-exported"
                }
            except Exception as exc:
                (stage / "model.onnx").unlink(missing_ok=True)
                meta |= {"export_path": "static-fallback", "failed": _why(exc)}
        return publish(stage, final, meta | {"export_s": time.perf_counter() - t0})[0]


def _static(
    model: Any,
    graph_dtype: str,
    batch: int,
    final: Path,
    cache_dir: Path,
    resolution: int,
    opset: int | None,
    reason: str | None,
    exporter: str,
) -> Entry:
    """The recorded fallback: one export per batch (fp16: a direct half-precision export)."""
    from profiler.timing.eager import make_input

    with staging(cache_dir) as stage:
        t0 = time.perf_counter()
        model, cal = _cpu_fp32(model, resolution)
        ref_in, ref_out = reference_io(model, resolution)
        save_reference(stage, ref_in, ref_out)
        x = make_input(batch, resolution, "cpu", "fp32", "contiguous", seed=REF_SEED)
        exported = _half_copy(model) if graph_dtype == "fp16" else model
        x = x.half() if graph_dtype == "fp16" else x
        meta = _base_meta(resolution, graph_dtype) | export_graph(
            exported, x, stage / "model.onnx", dynamic=False, opset=opset, exporters=exporter_order(exporter)
        )
        meta |= {"export_path": "static-fallback", "dynamic_fallback_reason": reason, "bn_calibration": cal}
        return publish(stage, final, meta | {"export_s": time.perf_counter() - t0})[0]


def graph_dtypes(dtypes: Sequence[str]) -> list[str]:
    """The graphs ``dtypes`` need, in the order they are made: fp32 always first (fp16 is made from it)."""
    for d in dtypes:
        if d not in GRAPH_DTYPE:
            raise UsageError(f"no ONNX graph for dtype {d!r}; valid for onnxruntime: {', '.join(GRAPH_DTYPE)}")
    return ["fp32", "fp16"] if any(GRAPH_DTYPE[d] == "fp16" for d in dtypes) else ["fp32"]


def static_graph(
    model: Any,
    *,
    graph_dtype: str,
    batch: int,
    resolution: int,
    cache_dir: Path,
    cache_key: str,
    opset: int | None,
    reason: str | None,
    exporter: str = "dynamo",
) -> tuple[Entry, bool]:
    """The static-batch entry of ``batch`` (made now if missing); (entry, made now)."""
    final = entry_dir(cache_dir, cache_key, resolution, graph_dtype, batch, opset, exporter)
    entry = load_entry(final)
    if entry is not None:
        return entry, False
    return _static(model, graph_dtype, batch, final, cache_dir, resolution, opset, reason, exporter), True


def prepare_graphs(
    model: Any,
    *,
    resolution: int,
    dtypes: Sequence[str],
    cache_key: str,
    cache_dir: Path | str | None,
    opset: int | None = None,
    batches: Sequence[int] = (),
    exporter: str = "dynamo",
) -> dict[str, tuple[Entry, bool]]:
    """{graph dtype: (dynamic entry, made now)}; static entries for ``batches`` where the dynamic one failed.

    A static fallback with no ``batches`` is left to ``measure`` (one export per batch it is asked for).
    """
    order = graph_dtypes(dtypes)  # validates first
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    wanted = {GRAPH_DTYPE[d] for d in dtypes}
    made: dict[str, tuple[Entry, bool]] = {}
    for g in order:
        final = entry_dir(cache, cache_key, resolution, g, opset=opset, exporter=exporter)
        entry, now = load_entry(final), False
        if entry is None:
            now = True
            entry = (
                _dynamic_fp32(model, final, cache, resolution, opset, exporter)
                if g == "fp32"
                else _dynamic_fp16(model, made["fp32"][0], final, cache, resolution, opset, exporter)
            )
        made[g] = (entry, now)
        if entry.graph is None and g in wanted:
            for b in batches:
                static_graph(
                    model,
                    graph_dtype=g,
                    batch=b,
                    resolution=resolution,
                    cache_dir=cache,
                    cache_key=cache_key,
                    opset=opset,
                    reason=entry.meta.get("failed"),
                    exporter=exporter,
                )
    return made


def details_of(entry: Entry, made_now: bool) -> dict[str, Any]:
    """What a result row records about its graph: how it was made, where it is, whether it was reused."""
    meta = {k: v for k, v in entry.meta.items() if k not in ("failed", "export_s")}
    if entry.graph is None:
        meta["dynamic_fallback_reason"] = entry.meta.get("failed")
    return meta | {
        "cache_hit": not made_now,
        "onnx_path": str(entry.graph) if entry.graph else None,
        "export_s": entry.meta.get("export_s", 0.0) if made_now else 0.0,
    }


def prepare_onnx(
    model: Any,
    *,
    resolution: int,
    dtypes: Sequence[str],
    cache_key: str,
    cache_dir: Path | str | None,
    opset: int | None = None,
    batches: Sequence[int] = (),
    exporter: str = "dynamo",
) -> dict[str, dict[str, Any]]:
    """Make (or find) the ONNX graphs of ``model`` at ``resolution`` for ``dtypes``, CPU only; {dtype: details}.

    Called ahead of timing (e.g. in a prefetch process), so that ``measure(..., backend="onnxruntime",
    cache_key=cache_key, cache_dir=cache_dir)`` finds every graph and only loads it. Safe to run concurrently
    with other preparers of the same key (entries are published by atomic rename). ``model`` is used in place
    (eval, fp32, CPU). Details carry ``export_path``, ``exporter``, ``opset``, ``cache_hit``, ``onnx_path`` and
    ``export_s`` (seconds spent making this graph now; 0.0 when it was cached). Where the dynamic graph failed
    (``export_path == "static-fallback"``) static graphs are made for ``batches`` (else later, by ``measure``).
    ``exporter`` is tried first (``TimingConfig.exporter``; the entry is kept apart from the other exporter's).
    UsageError for a dtype that has no ONNX graph (bf16); ExportError when a needed static export fails.
    """
    made = prepare_graphs(
        model,
        resolution=resolution,
        dtypes=dtypes,
        cache_key=cache_key,
        cache_dir=cache_dir,
        opset=opset,
        batches=batches,
        exporter=exporter,
    )
    return {d: details_of(*made[GRAPH_DTYPE[d]]) for d in dtypes}


def ensure_graph(
    model: Any,
    *,
    dtype: str,
    batch: int,
    resolution: int,
    cache_key: str,
    cache_dir: Path | str | None,
    opset: int | None = None,
    exporter: str = "dynamo",
) -> tuple[Entry, dict[str, Any]]:
    """The entry ``measure`` times for (dtype, batch): the dynamic graph, else the static fallback of ``batch``."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    g = GRAPH_DTYPE[dtype]
    entry, now = prepare_graphs(
        model,
        resolution=resolution,
        dtypes=[dtype],
        cache_key=cache_key,
        cache_dir=cache,
        opset=opset,
        exporter=exporter,
    )[g]
    if entry.graph is not None:
        return entry, details_of(entry, now)
    static, now = static_graph(
        model,
        graph_dtype=g,
        batch=batch,
        resolution=resolution,
        cache_dir=cache,
        cache_key=cache_key,
        opset=opset,
        reason=entry.meta.get("failed"),
        exporter=exporter,
    )
    return static, details_of(static, now)
