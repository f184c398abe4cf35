"""Device keys (which machine + software a baseline belongs to; defined in ``profiler.core.device_key``) and entry keys
(one measured setting)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profiler.core.device_key import device_key, slugify  # re-exported: a baseline's device key

# The columns that identify one measured setting inside a baseline (the device is in the device key).
ENTRY_FIELDS = ("model", "backend", "dtype", "batch", "resolution", "memory_format")
# A normalization cell: every setting except the model (the reference model is measured once per cell).
CELL_FIELDS = ENTRY_FIELDS[1:]

__all__ = ["CELL_FIELDS", "ENTRY_FIELDS", "cell_of", "device_key", "entry_key", "slugify"]


def entry_key(row: Mapping[str, Any]) -> str:
    """``"resnet18|eager|fp32|b1|r64|contiguous"``: the key of one setting in a baseline's ``entries``."""
    return (
        f"{row['model']}|{row['backend']}|{row['dtype']}|b{int(row['batch'])}|r{int(row['resolution'])}"
        f"|{row.get('memory_format') or 'contiguous'}"
    )


def cell_of(entry: Mapping[str, Any]) -> tuple:
    """The normalization cell of an entry (or row): its setting without the model."""
    return (
        str(entry["backend"]),
        str(entry["dtype"]),
        int(entry["batch"]),
        int(entry["resolution"]),
        str(entry.get("memory_format") or "contiguous"),
    )
