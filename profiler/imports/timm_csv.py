"""Reading one of timm's benchmark tables (the CSV that timm's ``benchmark.py`` writes), by column name.

timm writes ``infer_*`` columns for inference benchmarks and ``train_*`` for training ones, in an order that differs
between files: ``model``, ``{mode}_img_size``, ``{mode}_samples_per_sec``, ``{mode}_step_time`` (ms per batch),
``{mode}_batch_size``, ``param_count`` (millions), ``{mode}_gmacs`` and ``{mode}_macts`` (fvcore, per image).
A table without ``model`` or the step time, batch or image size of one mode is refused, naming the columns it has;
a row whose numbers do not parse is refused naming its line.

>>> s = setting_from_name("benchmark-infer-amp-nhwc-pt240-cu124-rtx4090.csv")
>>> s["dtype"], s["memory_format"], s["backend"], s["torch"], s["device"]
('amp', 'channels_last', 'eager', '2.4.0', 'cuda')
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError

MODES = ("infer", "train")
NEEDED = ("step_time", "batch_size", "img_size")  # per mode; model too
OPTIONAL = ("samples_per_sec", "gmacs", "macts")


@dataclass(frozen=True)
class TimmRow:
    """One row of a timm table: its model, setting and timm's own numbers (``None`` where a column is absent)."""

    line: int  # 1-based line in the file (header = 1)
    model: str
    resolution: int
    batch: int
    step_time_ms: float  # ms per batch, timm's mean over its timed steps
    samples_per_sec: float | None = None
    param_count_m: float | None = None
    gmacs: float | None = None
    macts: float | None = None


@dataclass
class TimmTable:
    """A parsed table: the file, its sha256, the mode (infer or train) and its rows in file order."""

    path: Path
    sha256: str
    mode: str
    columns: list[str]
    rows: list[TimmRow] = field(default_factory=list)


def _mode(columns: list[str], path: Path) -> str:
    if "model" in columns:
        for mode in MODES:
            if all(f"{mode}_{c}" in columns for c in NEEDED):
                return mode
    wanted = " or ".join(", ".join(f"{m}_{c}" for c in NEEDED) for m in MODES)
    have = ", ".join(columns[:15]) + (f" (+{len(columns) - 15} more)" if len(columns) > 15 else "")
    raise UsageError(
        f"{path.name} is not a timm benchmark table: it has columns {have or '(none)'}; expected model and {wanted}"
    )


def _number(raw: dict[str, str], col: str, line: int, kind: type, required: bool) -> Any:
    text = (raw.get(col) or "").strip()
    if not text:
        if required:
            raise UsageError(f"line {line} ({raw.get('model') or '?'}): {col} is empty; a number is needed")
        return None
    try:
        value = kind(float(text)) if kind is int else float(text)
    except ValueError:
        raise UsageError(f"line {line} ({raw.get('model') or '?'}): {col} = {text!r} is not a number") from None
    if required and not (math.isfinite(value) and value > 0):
        raise UsageError(f"line {line} ({raw.get('model') or '?'}): {col} = {text!r} must be a positive number")
    return value


def read_table(path: Path | str) -> TimmTable:
    """Parse a timm benchmark CSV (see the module doc); UsageError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist (expected a timm benchmark CSV, e.g. benchmark-infer-amp-…csv)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path.name} is not UTF-8 text (expected a timm benchmark CSV)") from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = columns
    mode = _mode(columns, path)
    table = TimmTable(path, hashlib.sha256(data).hexdigest(), mode, columns)
    for i, raw in enumerate(reader, start=2):
        name = (raw.get("model") or "").strip()
        if not name:
            raise UsageError(f"line {i}: the model column is empty")
        table.rows.append(
            TimmRow(
                line=i,
                model=name,
                resolution=_number(raw, f"{mode}_img_size", i, int, True),
                batch=_number(raw, f"{mode}_batch_size", i, int, True),
                step_time_ms=_number(raw, f"{mode}_step_time", i, float, True),
                samples_per_sec=_number(raw, f"{mode}_samples_per_sec", i, float, False),
                param_count_m=_number(raw, "param_count", i, float, False),
                gmacs=_number(raw, f"{mode}_gmacs", i, float, False),
                macts=_number(raw, f"{mode}_macts", i, float, False),
            )
        )
    if not table.rows:
        raise UsageError(f"{path.name} has a header but no rows")
    return table


def setting_from_name(name: str) -> dict[str, str]:
    """What timm's file name says about its setting (``benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv``):
    dtype (``amp``/``fp32``/``fp16``/``bf16``), memory format (``nchw``/``nhwc``), backend (``dynamo`` →
    compile), torch and CUDA versions, device (``cpu`` token or a CUDA version → cuda). Absent tokens are absent."""
    tokens = re.split(r"[-_.]", Path(name).name.lower())
    out: dict[str, str] = {}
    for t in tokens:
        if t in ("amp", "fp32", "fp16", "bf16"):
            out["dtype"] = t
        elif t in ("nchw", "nhwc"):
            out["memory_format"] = "contiguous" if t == "nchw" else "channels_last"
            out.setdefault("backend", "eager")
        elif t in ("dynamo", "inductor", "compile"):
            out["backend"] = "compile"
        elif re.fullmatch(r"pt\d{3}", t):
            out["torch"] = f"{t[2]}.{t[3]}.{t[4]}"
        elif re.fullmatch(r"cu\d{3}", t):
            out["cuda"] = f"{t[2:4]}.{t[4]}"
            out["device"] = "cuda"
        elif t == "cpu":
            out["device"] = "cpu"
    return out
