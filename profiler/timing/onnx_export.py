"""torch → ONNX export of one graph, with a dynamic or static batch axis and an exporter fallback.

Where graphs are kept (the cache) is ``onnx_cache``; which graphs are made for a request is ``onnx_prepare``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from profiler.core import paths
from profiler.timing.protocol import EXPORTERS, ExportError

# fp32 and tf32 share one graph: TF32 is a runtime switch of the execution provider, not a graph property.
GRAPH_DTYPE = {"fp32": "fp32", "tf32": "fp32", "fp16": "fp16"}
_OP_PATTERN = re.compile(r"\b([A-Za-z_]\w*::\w+(?:\.\w+)*)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
BATCH_AXIS = "batch"  # name of the symbolic first input/output dimension in a dynamic graph


def default_cache_dir() -> Path:
    """``$ARCHPROF_CACHE/onnx`` if set, else ``~/.cache/archprof/onnx``."""
    return paths.cache_dir("onnx")


def exporter_order(first: str) -> tuple[str, ...]:
    """``first``, then the other exporters as fallbacks (``TimingConfig.exporter``)."""
    return (first, *(e for e in EXPORTERS if e != first))


def opset_of(path: Path) -> int | None:
    """The default-domain opset a graph file declares."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _export_once(model: Any, x: Any, path: Path, exporter: str, opset: int | None, dynamic: bool = False) -> None:
    import torch

    kwargs: dict[str, Any] = {"input_names": ["input"], "output_names": ["output"]}
    if opset is not None:
        kwargs["opset_version"] = opset
    if dynamic and exporter == "dynamo":
        # torch.export's own spelling (torch >= 2.5); the legacy dynamic_axes is only translated into it.
        # min=1 so a batch-1 request is valid even though the example input has batch 2.
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim(BATCH_AXIS, min=1)},)
    elif dynamic:
        kwargs["dynamic_axes"] = {"input": {0: BATCH_AXIS}, "output": {0: BATCH_AXIS}}
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


def export_graph(
    model: Any,
    x: Any,
    path: Path,
    *,
    dynamic: bool,
    opset: int | None = None,
    exporters: tuple[str, ...] = EXPORTERS,
) -> dict[str, Any]:
    """Export ``model`` (in the graph dtype, on CPU) for example input ``x`` to ``path``; return its details.

    ``dynamic`` makes the first axis symbolic (one graph for every batch); otherwise the graph is fixed to
    ``x.shape[0]``. Exporters are tried in order; details record the one used, the opset in the file, and why
    earlier ones were abandoned. ExportError (naming the operator when one is named) when every exporter fails.
    """
    import torch

    failures: dict[str, str] = {}
    ops: set[str] = set()
    for exporter in exporters:
        # A unique temporary name then os.replace: nobody ever sees a half-written file.
        fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
        os.close(fd)
        try:
            _export_once(model, x, Path(tmp), exporter, opset, dynamic)
        except Exception as exc:
            message = _ANSI.sub("", f"{exc} {exc.__cause__ or ''}")
            if op := operator_of(message):
                ops.add(op)
            failures[exporter] = f"{type(exc).__name__}: {message.strip()[:2000]}"
            Path(tmp).unlink(missing_ok=True)
            continue
        os.replace(tmp, path)
        return {
            "exporter": exporter,
            "opset": opset_of(path),
            "fallback_reason": "; ".join(f"{k} failed: {v[:500]}" for k, v in failures.items()) or None,
            "exported_with_torch": torch.__version__,
            "batch_axis": BATCH_AXIS if dynamic else None,
            "static_batch": None if dynamic else int(x.shape[0]),
        }
    named = f" (operator: {', '.join(sorted(ops))})" if ops else ""
    reasons = "; ".join(f"{k}: {v[:600]}" for k, v in failures.items())
    kind = "dynamic-batch" if dynamic else "static-batch"
    raise ExportError(f"{kind} ONNX export failed with every exporter{named}: {reasons}")


def convert_to_fp16(src: Path, dst: Path) -> dict[str, Any]:
    """fp16 copy of the fp32 graph ``src`` (onnxconverter-common), inputs and outputs fp16 too.

    ``keep_io_types=False``: the timed graph takes and returns fp16, as a half-precision eager model does, so the
    IO binding is fp16 and no Cast sits in the timed path.
    """
    import onnx
    import onnxconverter_common
    from onnxconverter_common import float16

    source = onnx.load(str(src))
    casts_before = sum(n.op_type == "Cast" for n in source.graph.node)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the value is truncated" for tiny constants: expected in fp16
        converted = float16.convert_float_to_float16(source, keep_io_types=False)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=dst.parent)
    os.close(fd)
    onnx.save(converted, tmp)
    os.replace(tmp, dst)
    # Ops on the converter's block list stay fp32 behind Cast pairs: the count says whether the graph is all fp16.
    return {
        "converter": f"onnxconverter-common {onnxconverter_common.__version__} float16",
        "fp16_casts_added": sum(n.op_type == "Cast" for n in converted.graph.node) - casts_before,
    }
