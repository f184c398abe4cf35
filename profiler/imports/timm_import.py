"""``profiler import timm FILE.csv``: a run directory from one of timm's published benchmark tables.

Each row of timm's table (``timm_csv``) becomes one ``ok`` row of a run, as a sweep writes it: the model built with
``timm:NAME`` on the meta device and counted by archprof at the row's ``infer_img_size`` (macs, params, acts,
acts_all, ops, bytes; the per-op table in ``counts/``), ``latency_ms`` = timm's step time (ms per batch) at
``batch`` = timm's batch, ``n_samples`` NULL (timm reports a mean, not its samples). timm's own figures stay in the
row's details (``timm_gmacs``, ``timm_macts``, ``timm_param_count_m``). ``meta.json`` carries the provenance under
``imported`` (with the batches: where they differ between models, as timm lowers the batch for models that fail
at its default, the analysis compares latency per image, ``analysis.data.per_image``). A model timm does not
know, or that cannot be counted, is skipped with its reason there; the import fails only when no row can be
counted.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.core import paths
from profiler.core.errors import UsageError
from profiler.imports.count_pool import CountJob, count_all, default_cache_dir
from profiler.imports.include import Include
from profiler.imports.timm_csv import TimmRow, TimmTable, setting_from_name
from profiler.results.measurement import Measurement

LICENCE = "Apache-2.0 (huggingface/pytorch-image-models)"
PROTOCOL = (
    "latency is timm's mean over its protocol (benchmark.py: torch.inference_mode, cudnn.benchmark, "
    "10 warm-up and 40 timed steps, a CUDA synchronize per step, the mean reported), not archprof's; "
    "no per-iteration samples"
)


@dataclass(frozen=True)
class ImportSetting:
    """What the table was measured at: given on the command line, else read from timm's file name."""

    device_name: str
    device: str
    dtype: str
    backend: str
    memory_format: str


def resolve_setting(
    table: TimmTable,
    device_name: str,
    *,
    device: str | None = None,
    dtype: str | None = None,
    backend: str | None = None,
    memory_format: str | None = None,
) -> tuple[ImportSetting, dict]:
    """The setting of the rows (flags win over the file name's tokens); UsageError for what neither says."""
    from profiler.timing.protocol import BACKENDS, DEVICES, DTYPES, MEMORY_FORMATS, validate_request

    named = setting_from_name(table.path.name)
    if not device_name.strip():
        raise UsageError("--device-name is empty; give the device the table was measured on, e.g. 'NVIDIA RTX 3090'")
    guess_device = "cpu" if "cpu" in device_name.lower() else named.get("device", "cuda")
    values = {
        "device": device or guess_device,
        "dtype": dtype or named.get("dtype"),
        "backend": backend or named.get("backend", "eager"),
        "memory_format": memory_format or named.get("memory_format", "contiguous"),
    }
    choices = {"device": DEVICES, "dtype": DTYPES, "backend": BACKENDS, "memory_format": MEMORY_FORMATS}
    for key, value in values.items():
        if value is None:
            raise UsageError(
                f"{table.path.name} does not say its {key}; give --{key.replace('_', '-')} ({', '.join(choices[key])})"
            )
        if value not in choices[key]:
            raise UsageError(f"unknown --{key.replace('_', '-')} {value!r}; valid: {', '.join(choices[key])}")

    # a setting archprof could measure itself (amp on ONNX Runtime, cudagraph on a CPU… are not)
    validate_request(values["backend"], values["device"], values["dtype"], values["memory_format"], 1, 1)
    return ImportSetting(device_name.strip(), **values), named


def _resolve_specs(rows: list[TimmRow]) -> tuple[dict[str, tuple[Any, str]], dict[str, str]]:
    """``model -> (spec, spec_hash)`` for every model timm knows, and ``model -> reason`` for the rest."""
    import models
    from models.external import resolve

    specs, unknown = {}, {}
    for name in dict.fromkeys(r.model for r in rows):
        try:
            spec, _ = resolve(f"timm:{name}")
        except ValueError as exc:
            unknown[name] = str(exc).splitlines()[0]
            continue
        specs[name] = (spec, models.spec_hash(spec))
    return specs, unknown


def _row(
    r: TimmRow,
    spec: Any,
    spec_hash: str,
    counts: dict[str, int],
    s: ImportSetting,
    table: TimmTable,
    when: str,
    repeat: int = 0,
) -> Measurement:
    import models
    from profiler.sweep.tasks import Task

    task = Task(
        model=f"timm:{r.model}",
        family=spec.family,
        spec=json.loads(json.dumps(models.spec_to_dict(spec))),
        spec_hash=spec_hash,
        backend=s.backend,
        device=s.device,
        dtype=s.dtype,
        memory_format=s.memory_format,
        batch=r.batch,
        resolution=r.resolution,
        repeat=repeat,
    )
    details = {
        "source": f"timm benchmark table {table.path.name} (public data, not measured by archprof)",
        "csv_line": r.line,
        "timm_mode": table.mode,
        "latency_protocol": PROTOCOL,
        "timm_gmacs": r.gmacs,
        "timm_macts": r.macts,
        "timm_param_count_m": r.param_count_m,
        "timm_samples_per_sec": r.samples_per_sec,
    }
    return task.base_row(
        counts,
        device_name=s.device_name,
        latency_ms=r.step_time_ms,
        latency_ms_mean=r.step_time_ms,
        n_samples=None,
        throughput_ips=r.samples_per_sec if r.samples_per_sec else r.batch * 1e3 / r.step_time_ms,
        status="ok",
        details_json=json.dumps(details, sort_keys=True),
        started_at=when,
    )


def _environment(s: ImportSetting, named: dict) -> dict[str, Any]:
    env: dict[str, Any] = {"device": s.device, "measured_by": "timm benchmark.py (public table)"}
    env["gpu_name" if s.device == "cuda" else "cpu_model"] = s.device_name
    if named.get("torch"):
        env["torch"] = f"{named['torch']} (timm's, from the file name)"
    if named.get("cuda"):
        env["torch_cuda"] = named["cuda"]
    return env


def import_timm(
    out: Path | str,
    setting: ImportSetting,
    named: dict,
    *,
    table: TimmTable,
    include: Include,
    force: bool = False,
    workers: int = 2,
    cache_dir: Path | None = None,
    progress: bool = True,
    snapshot: str | None = None,
) -> dict[str, Any]:
    """Write the run ``out`` from ``table`` (see the module doc); returns a summary (rows, skipped, wall_s)."""
    from models.external import import_timm as _timm
    from profiler.core.environment import git_commit
    from profiler.results.store import DB_NAME, ResultStore

    t0 = time.perf_counter()
    out = Path(out)
    if (out / DB_NAME).exists() or (out.exists() and any(out.iterdir())):
        if not force:
            raise UsageError(f"{out} already exists; choose another -o RUN or pass --force to replace it")
        shutil.rmtree(out)
    rows = [r for r in table.rows if include.accepts(r.model)]
    if not rows:
        raise UsageError(f"no row of {table.path.name} matches --include {include.text!r}")
    specs, unknown = _resolve_specs(rows)
    jobs = [
        CountJob(r.model, _spec_dict(specs[r.model][0]), specs[r.model][1], r.resolution)
        for r in rows
        if r.model in specs
    ]
    cache_dir = cache_dir or default_cache_dir()
    counted = count_all(jobs, cache_dir, workers=workers, progress=progress)
    skipped = [{"model": n, "reason": why} for n, why in unknown.items()]
    good: list[tuple[TimmRow, dict]] = []
    for r in rows:
        if r.model not in specs:
            continue
        counts, why = counted[paths.count_key(specs[r.model][1], r.resolution)]
        if counts is None:
            skipped.append({"model": r.model, "resolution": r.resolution, "line": r.line, "reason": why})
        else:
            good.append((r, counts))
    if not good:
        first = "; ".join(f"{s['model']}: {s['reason']}" for s in skipped[:3])
        raise UsageError(f"no row of {table.path.name} could be counted ({len(skipped)} skipped: {first})")
    when = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    meta = _meta(table, setting, named, include, skipped, len(good), when, git_commit(), _timm().__version__, snapshot)
    meta["imported"]["batches"] = sorted({r.batch for r, _ in good})
    with ResultStore.create(out, meta) as store:
        seen: dict[tuple[str, int, int], int] = {}
        for r, counts in good:
            spec, spec_hash = specs[r.model]
            # the same model and setting twice in a table: two repeats (the analysis takes their median)
            repeat = seen[(r.model, r.resolution, r.batch)] = seen.get((r.model, r.resolution, r.batch), -1) + 1
            store.add(_row(r, spec, spec_hash, counts, setting, table, when, repeat))
        counts_dir = paths.counts_dir(out)
        counts_dir.mkdir(exist_ok=True)
        for key in {paths.count_key(specs[r.model][1], r.resolution) for r, _ in good}:
            for file in (paths.count_file, paths.ops_file):
                shutil.copyfile(file(cache_dir, key), file(counts_dir, key))
        wall_s = time.perf_counter() - t0
        meta["sessions"] = [
            {
                "kind": "import",
                "started_at": when,
                "wall_s": round(wall_s, 1),
                "rows": len(good),
                "skipped": len(skipped),
                "count_workers": workers,
            }
        ]
        store.write_meta(meta)
    write_readme(out, meta)
    return {
        "out": str(out),
        "rows": len(good),
        "skipped": skipped,
        "wall_s": wall_s,
        "models": len({r.model for r, _ in good}),
        "families": len({specs[r.model][0].family for r, _ in good}),
    }


def _spec_dict(spec: Any) -> dict[str, Any]:
    import models

    return json.loads(json.dumps(models.spec_to_dict(spec)))


def _meta(
    table: TimmTable,
    s: ImportSetting,
    named: dict,
    include: Include,
    skipped: list[dict],
    n_rows: int,
    when: str,
    commit: str | None,
    timm_version: str,
    snapshot: str | None,
) -> dict[str, Any]:
    return {
        "run": {"kind": "import", "device": s.device, "argv": sys.argv, "git_commit": commit, "started_at": when},
        "environment": _environment(s, named),
        "config": {
            "name": f"import of {table.path.name}",
            "path": str(table.path),
            "parsed": {
                "device_name": s.device_name,
                "device": s.device,
                "dtype": s.dtype,
                "backend": s.backend,
                "memory_format": s.memory_format,
                "include": include.text,
            },
        },
        "imported": {
            "source": "timm benchmark.py results table (public data)",
            "file": table.path.name,
            "sha256": table.sha256,
            "licence": LICENCE,
            "timm_snapshot": snapshot,
            "device_name": s.device_name,
            "setting_from_file_name": named,
            "timm_mode": table.mode,
            "timm_version_counted_with": timm_version,
            "latency": PROTOCOL,
            "batches": [],
            "include": include.text or None,
            "include_rule": include.describe(),
            "rows_in_table": len(table.rows),
            "rows_imported": n_rows,
            "skipped": skipped,
        },
    }


def write_readme(out: Path, meta: dict[str, Any]) -> Path:
    """The run's provenance note (README.md): source, sha256, licence, snapshot, rule, skipped models."""
    imp = meta["imported"]
    cfg = meta["config"]["parsed"]
    skipped = (
        "\n".join(
            f"- `{s['model']}`" + (f" at {s['resolution']} px" if s.get("resolution") else "") + f": {s['reason']}"
            for s in imp["skipped"]
        )
        or "- none"
    )
    b = imp["batches"]
    batches = (
        f"Batches differ between rows ({min(b)}–{max(b)}: timm lowers the batch for models that fail at its "
        "default), so the analysis compares latency per image (`latency_ms / batch`) in one cell."
        if len(b) > 1
        else f"Every row at batch {b[0]}."
    )
    text = f"""# {out.name}: timm's published benchmark table, imported (public data)

Not measured by archprof. Latency: {imp["latency"]}.

| | |
|---|---|
| source file | `{imp["file"]}` (timm's `results/` folder) |
| sha256 | `{imp["sha256"]}` |
| licence | {imp["licence"]} |
| timm snapshot | {imp.get("timm_snapshot") or "not given"} |
| device (as given) | {imp["device_name"]} ({cfg["device"]}) |
| setting | {cfg["dtype"]}, {cfg["backend"]}, {cfg["memory_format"]} (file name says {imp["setting_from_file_name"]}) |
| rows | {imp["rows_imported"]} imported of {imp["rows_in_table"]} in the table |
| include rule | `{imp.get("include") or "(all)"}`: {imp["include_rule"]} |
| counted with | archprof: `timm:NAME` on the meta device, batch 1, the row's resolution; timm \
{imp["timm_version_counted_with"]} |

Rows: `latency_ms` = timm's `{imp["timm_mode"]}_step_time` (ms per batch) at `batch` = `{imp["timm_mode"]}_batch_size`;
counts per image by archprof; timm's own fvcore figures in each row's details (`timm_gmacs`, `timm_macts`).
{batches}

## Skipped models
{skipped}
"""
    path = out / "README.md"
    path.write_text(text)
    return path
