"""ONNX export with exporter fallback, cached on disk by (model spec, resolution, batch, dtype)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from profiler.timing.protocol import ExportError

EXPORTERS = ("dynamo", "torchscript")
# fp32 and tf32 share one graph: TF32 is a runtime switch of the execution provider, not a graph property.
GRAPH_DTYPE = {"fp32": "fp32", "tf32": "fp32", "fp16": "fp16"}
_OP_PATTERN = re.compile(r"\b([A-Za-z_]\w*::\w+(?:\.\w+)*)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def default_cache_dir() -> Path:
    """``$ARCHPROF_CACHE/onnx`` if set, else ``~/.cache/archprof/onnx``."""
    root = os.environ.get("ARCHPROF_CACHE")
    return Path(root) / "onnx" if root else Path.home() / ".cache" / "archprof" / "onnx"


def cache_path(cache_dir: Path, cache_key: str, resolution: int, batch: int, dtype: str) -> Path:
    """Where the export of one (spec, resolution, batch, graph dtype) lives."""
    return Path(cache_dir) / f"{cache_key}_r{resolution}_b{batch}_{GRAPH_DTYPE[dtype]}.onnx"


def reference_path(path: Path) -> Path:
    """Eager fp32 output of the exported weights on the fixed input: ``*.ref.npy`` next to the graph."""
    return path.with_suffix(".ref.npy")


def load_cached(
    cache_key: str | None, cache_dir: Path | str | None, resolution: int, batch: int, dtype: str
) -> tuple[Path, dict[str, Any], Any] | None:
    """(graph path, export details, reference output) of a complete cache entry, else None.

    The reference travels with the graph because a rebuilt model has fresh random weights: ORT must be
    checked against eager output of the weights that were exported, not of whatever model is at hand.
    """
    import numpy as np

    if cache_key is None:
        return None
    path = cache_path(Path(cache_dir) if cache_dir is not None else default_cache_dir(), cache_key,
                      resolution, batch, dtype)
    meta_path, ref_path = path.with_suffix(".json"), reference_path(path)
    if not (path.exists() and meta_path.exists() and ref_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    return path, meta | {"cache_hit": True, "onnx_path": str(path)}, np.load(ref_path)


def _opset_of(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _export_once(model: Any, x: Any, path: Path, exporter: str, opset: int | None) -> None:
    kwargs: dict[str, Any] = {"input_names": ["input"], "output_names": ["output"]}
    if opset is not None:
        kwargs["opset_version"] = opset
    # The exporters print progress and warnings; keep the CLI's stdout clean (the JSON goes there), and keep
    # their log lines ("torchvision is not installed. Skipping …") and FutureWarnings off the terminal: they
    # concern the exporter's internals, not this measurement (a failed export is still reported with its reason).
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            _export_quiet(model, x, path, exporter, kwargs)
        finally:
            onnx_log.setLevel(level)


def _export_quiet(model: Any, x: Any, path: Path, exporter: str, kwargs: dict[str, Any]) -> None:
    import torch

    if exporter == "dynamo":
        # external_data=False: one self-contained file, so the cache entry is a single atomic rename.
        torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, **kwargs)
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=False, do_constant_folding=True, **kwargs)


def operator_of(message: str) -> str | None:
    """The first ``namespace::op`` named in an exporter's error message (e.g. ``aten::foo``)."""
    match = _OP_PATTERN.search(message)
    return match.group(1) if match else None


def export_onnx(
    model: Any,
    x: Any,
    *,
    dtype: str,
    batch: int,
    resolution: int,
    cache_key: str | None,
    cache_dir: Path | str | None = None,
    opset: int | None = None,
    exporters: tuple[str, ...] = EXPORTERS,
    reference: Any = None,
) -> tuple[Path, dict[str, Any]]:
    """Export ``model`` (already in the graph dtype, on CPU) for input ``x``; return the file and details.

    With a ``cache_key`` the file lands in the cache (``load_cached`` finds it, with ``reference``, a numpy
    array saved beside it); without one it goes to a temporary directory (nothing identifies the model).
    Details record the exporter used, the opset in the file, and why an exporter was abandoned.
    """
    import numpy as np
    import torch

    if cache_key is not None:
        path = cache_path(Path(cache_dir) if cache_dir is not None else default_cache_dir(), cache_key,
                          resolution, batch, dtype)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        tmp_dir = Path(tempfile.mkdtemp(prefix="archprof-onnx-"))
        path = tmp_dir / f"model_r{resolution}_b{batch}_{GRAPH_DTYPE[dtype]}.onnx"
    meta_path = path.with_suffix(".json")

    failures: dict[str, str] = {}
    ops: set[str] = set()
    for exporter in exporters:
        # A unique temporary name then os.replace: parallel workers never see a half-written file.
        fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
        os.close(fd)
        try:
            _export_once(model, x, Path(tmp), exporter, opset)
        except Exception as exc:
            message = _ANSI.sub("", f"{exc} {exc.__cause__ or ''}")
            if op := operator_of(message):
                ops.add(op)
            failures[exporter] = f"{type(exc).__name__}: {message.strip()[:2000]}"
            Path(tmp).unlink(missing_ok=True)
            continue
        meta = {
            "exporter": exporter,
            "opset": _opset_of(Path(tmp)),
            "fallback_reason": "; ".join(f"{k} failed: {v[:500]}" for k, v in failures.items()) or None,
            "exported_with_torch": torch.__version__,
            "graph_dtype": GRAPH_DTYPE[dtype],
            "static_batch": batch,
        }
        # Reference and meta first, the graph last: load_cached only trusts an entry whose graph exists.
        if reference is not None:
            with open(reference_path(path).with_suffix(".tmp.npy"), "wb") as f:
                np.save(f, reference)
            os.replace(reference_path(path).with_suffix(".tmp.npy"), reference_path(path))
        meta_path.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, path)
        return path, meta | {"cache_hit": False, "onnx_path": str(path)}

    named = f" (operator: {', '.join(sorted(ops))})" if ops else ""
    reasons = "; ".join(f"{k}: {v[:600]}" for k, v in failures.items())
    raise ExportError(f"ONNX export failed with every exporter{named}: {reasons}")
