"""Build the report: load results, run the analysis, draw the figures, fill the jinja2 template → one HTML string.

Everything is inline (CSS, figures as data: URIs, a few lines of sort script), so the file makes no network request
and opens from disk or an e-mail attachment. A failing analysis or figure becomes a visible note, not a crash.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from profiler.report import cell_tables, overhead, plots_raw, tables, trace_section
from profiler.report.figures import cell_figures, draw_figure
from profiler.results.runs import RunMeta, open_run

MAX_CELLS = 4  # per-cell figures beyond this would drown the report; the tables still cover every cell


def _env(meta: RunMeta) -> dict:
    return meta.environment or {}


def _hardware(ok) -> str:
    """What the title asks about: "GPU", "CPU" or "GPU and CPU", from the rows' devices (GPU when unknown)."""
    if "device" not in ok or not ok["device"].notna().any():
        return "GPU"
    kinds = {"CPU" if str(d) == "cpu" else "GPU" for d in ok["device"].dropna()}
    return " and ".join(sorted(kinds, reverse=True))


def _values(df: pd.DataFrame, col: str) -> str:
    if col not in df:
        return "not recorded"
    vals = sorted({str(v) for v in df[col].dropna()})
    return ", ".join(vals) if vals else "not recorded"


def _synthetic_rows(raw: pd.DataFrame) -> bool:
    """True when any row's details say ``"synthetic": true`` (test fixtures, examples): the page must say so."""
    if "details_json" not in raw:
        return False
    return bool(raw["details_json"].astype(str).str.contains('"synthetic": true', regex=False).any())


def _public(meta: RunMeta) -> str | None:
    """For an imported public table (``meta.json`` ``imported``): where it comes from, in one line."""
    imp = meta.raw.get("imported")
    if not isinstance(imp, dict):
        return None
    return (
        f"{imp.get('source', 'an imported table')}: {imp.get('file')} (sha256 {str(imp.get('sha256'))[:16]}…, "
        f"{imp.get('licence')}), measured on {imp.get('device_name')} by its authors, not by archprof; "
        f"{imp.get('latency', '')}. Counts by archprof. Rows: {imp.get('include_rule')}."
    )


def header(raw: pd.DataFrame, meta: RunMeta | dict, source: str) -> dict:
    """What was measured, on what, when, by which config and commit."""
    meta = RunMeta.from_dict(meta)
    env = _env(meta)
    ok = raw[raw["status"].astype(str) == "ok"] if "status" in raw else raw
    device = _values(ok, "device_name") if "device_name" in ok and ok["device_name"].notna().any() else None
    device = device or env.get("gpu_name") or _values(ok, "device")
    started = meta.started_at or env.get("captured_at")
    if not started and "started_at" in raw and raw["started_at"].notna().any():
        started = f"{raw['started_at'].dropna().min()} – {raw['started_at'].dropna().max()}"
    config = " ".join(str(meta.config[k]) for k in ("name", "path") if meta.config.get(k))
    config = config or (json.dumps(meta.config, default=str)[:200] if meta.config else None)
    versions = ", ".join(
        f"{k} {env[k]}" for k in ("torch", "torch_cuda", "cudnn", "onnxruntime", "onnx", "python") if env.get(k)
    )
    return {
        "title": Path(source).name,
        "hardware": _hardware(ok),
        "synthetic": _synthetic_rows(raw),
        "public": _public(meta),
        "measured": f"{ok['model'].nunique()} models in {ok['family'].nunique()} families, "
        f"{len(ok)} measurements ok, {len(raw) - len(ok)} failed{_unstable(raw)}",
        "device": device,
        "cpu": env.get("cpu_model"),
        "versions": versions or "not recorded",
        "backends": _values(ok, "backend"),
        "precision": _values(ok, "dtype"),
        "batch": _values(ok, "batch"),
        "resolution": _values(ok, "resolution"),
        "when": started or "not recorded",
        "config": config or "not recorded",
        "commit": meta.git_commit or "not recorded",
        "source": source,
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _analysis_inputs(source: str) -> dict:
    """Per-op tables' run directory and measured peaks for the analysis; none when ``source`` is not a path."""
    from profiler.analysis import analysis_inputs

    try:
        return analysis_inputs(source) if Path(source).exists() else {}
    except Exception:  # a source that is not a run: the analysis goes on without them
        return {}


def verdict_class(label: str) -> str:
    """CSS class of a verdict label."""
    if label == "supported":
        return "good"
    if label == "partly supported":
        return "mixed"
    if label.startswith(("not supported", "both")):
        return "bad"
    return "neutral"


def _unstable(raw: pd.DataFrame) -> str:
    """ ", 5 unstable (...)" for the header's measured line; empty when every row is stable or none has samples."""
    from profiler.analysis.robustness import unstable_rows

    u = unstable_rows(raw)
    return f", {u['n_unstable']} unstable ({u['rule']})" if u["n_unstable"] else ""


def _noise_line(v: dict) -> str | None:
    """The verdict's noise check in one sentence (None when it was not run)."""
    if not (r := v.get("robustness")):
        return None
    state = "fragile" if v.get("fragile") else "firm"
    return (
        f"Noise check ({state}): the same words in {100 * r['agreement']:.0f} % of {r['n_resamples']} refits "
        f"on resampled timings (each row's level drawn from its own samples, repeats resampled); "
        f"{v.get('unstable_rows', 0)} unstable rows "
        "in this cell."
    )


def _cell_entry(c: dict, cell: pd.DataFrame, raw: pd.DataFrame, env: dict, with_figures: bool) -> dict:
    key = c["cell"]
    device = str(key.get("device", ""))
    gpu = None
    if "device_name" in raw and "device" in raw:
        names = raw.loc[raw["device"].astype(str) == device, "device_name"].dropna()
        gpu = str(names.iloc[0]) if len(names) else None
    gpu = gpu or env.get("gpu_name")
    forms = c["heldout"].get("forms", {})
    summary = {f: forms[f] for f in ("M0", "M3", "M5", "M6", "M7", "M8", "mech", "opclass") if f in forms}
    return {
        "label": c["label"],
        "n": c["n"],
        "n_families": c["n_families"],
        "families": ", ".join(c["families"]),
        "verdict": c["verdict"],
        # the text starts with the label, which the page already shows as a badge
        "verdict_text": c["verdict"]["text"].removeprefix(c["verdict"]["label"] + ": "),
        "verdict_class": verdict_class(c["verdict"]["label"]),
        "summary": summary,
        "explanation": (c.get("explanation") or {}).get("text"),
        "noise": _noise_line(c["verdict"]),
        "notes": (
            [
                f"t is latency in {c['latency_unit']}: batches differ between the models of this cell "
                "(each model at one batch), so they are compared per image."
            ]
            if c.get("latency_unit", "").startswith("ms per image")
            else []
        )
        + c["heldout"].get("notes", []),
        "tables": [
            cell_tables.coefficients(c),
            *cell_tables.heldout(c),
            cell_tables.tests(c),
            *filter(None, [cell_tables.opclass_per_model(c)]),
        ],
        "figures": cell_figures(cell, str(key.get("dtype", "fp32")), gpu, device, env) if with_figures else [],
    }


def build_context(
    raw: pd.DataFrame,
    meta: RunMeta | dict,
    source: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    traces: list | None = None,
    partial_note: str | None = None,
    predict_on: list[str] | None = None,
) -> dict:
    """Everything the template shows, as plain data (``meta``: the run's ``RunMeta`` or its meta.json dict;
    ``traces``: trace files besides the run's ``traces/``; ``predict_on``: datasheet devices to predict the run's
    models on, ``report.devices``)."""
    from profiler.analysis import analyze_frame
    from profiler.analysis.data import aggregate, cell_label, split_cells, validate
    from profiler.analysis.robustness import N_RESAMPLES
    from profiler.analysis.stored import analyze_run

    meta = RunMeta.from_dict(meta)
    env = _env(meta)
    ctx: dict[str, Any] = {
        "header": header(raw, meta, source),
        "cells": [],
        "skipped": [],
        "analysis_error": None,
        "claim": None,
        "forms": {},
        "more_cells": 0,
        "config_text": None,
    }
    frame = result = None
    try:
        rows = validate(raw, source)
        frame = aggregate(rows)
        inputs = _analysis_inputs(source)
        params = {"n_boot": n_boot, "seed": seed, "n_resamples": N_RESAMPLES}  # analyze's default noise check
        run_dir = Path(source) if source and Path(source).is_dir() else None
        result, _ = analyze_run(
            rows,
            lambda: analyze_frame(rows, **params, **inputs),
            run_dir=run_dir,
            params=params,
            measured_peaks=inputs.get("measured_peaks"),
        )
    except Exception as exc:  # e.g. too few models or families: the measurements are still worth showing
        ctx["analysis_error"] = str(exc) if type(exc).__name__ == "UsageError" else f"{type(exc).__name__}: {exc}"
        if partial_note:  # a stopped sweep: say so, and how to go on (runs.partial_run_note)
            ctx["analysis_error"] = f"{partial_note}. {ctx['analysis_error']}"
    if result is not None:
        ctx["claim"], ctx["forms"] = result["claim"], result["forms"]
        ctx["skipped"] = [s["reason"] for s in result.get("skipped", [])]
        by_label = {cell_label(k): df for k, df in split_cells(frame)}
        for i, c in enumerate(result["cells"]):
            ctx["cells"].append(_cell_entry(c, by_label[c["label"]], raw, env, with_figures=i < MAX_CELLS))
        ctx["more_cells"] = max(0, len(result["cells"]) - MAX_CELLS)
    models = frame if frame is not None else raw
    n_models = len(models)
    ctx["figures"] = [
        draw_figure(
            "Activations vs FLOPs",
            "Per-family power laws A ∝ F^b; within RegNet b ≈ ½ is the paper's √F law, "
            "the spread across families is what lets the test separate √F from A.",
            plots_raw.acts_vs_flops,
            models,
            n_points=n_models,
        ),
        draw_figure(
            "ONNX Runtime vs eager PyTorch",
            "Per model, same device, precision, batch and resolution.",
            plots_raw.eager_vs_onnx,
            raw,
            n_points=n_models,
        ),
        draw_figure(
            "Latency distributions",
            "Every timed iteration of a few models spread over the latency range; box: quartiles, whiskers: 1.5 IQR.",
            plots_raw.latency_distributions,
            raw,
            n_points=300,
        ),
    ]
    ctx["launch"] = overhead.launch_section(raw, result["cells"] if result is not None else [], draw_figure)
    ctx["per_model"] = tables.per_model(raw)
    ctx["failed"] = tables.failed(raw)
    extra = {f"run.{k}": v for k, v in meta.run.items()}
    extra.update({f"config.{k}": meta.config[k] for k in ("name", "path") if k in meta.config})
    ctx["config_text"] = meta.config_text
    for i, session in enumerate(meta.sessions):
        extra[f"session {i + 1}"] = session
    ctx["environment"] = tables.environment(env, extra) if env or extra else None
    ctx["traces"] = trace_section.traces_context(source, traces)
    ctx["predicted"] = None
    if predict_on:  # needs the rows and their op tables, not the analysis
        from profiler.report import devices

        ctx["predicted"] = devices.section(source, predict_on, draw_figure)
    return ctx


def render_html(ctx: dict) -> str:
    """Fill the template (autoescaped) with a context from ``build_context``."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    jenv = Environment(
        loader=PackageLoader("profiler.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    return jenv.get_template("report.html").render(**ctx)


def build_report(
    path: Path | str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    traces: list | None = None,
    predict_on: list[str] | None = None,
) -> str:
    """The HTML report of a run directory (path, run id or ``latest``), a CSV or a Parquet file."""
    from profiler.results.runs import partial_run_note

    run = open_run(path, strict_meta=False)  # an unreadable meta.json costs the header its details, not the report
    return render_html(
        build_context(
            run.rows,
            run.meta,
            str(run.path),
            n_boot=n_boot,
            seed=seed,
            traces=traces,
            partial_note=partial_run_note(run),
            predict_on=predict_on,
        )
    )
