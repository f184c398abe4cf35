"""Helpers shared by sub-commands: resolving model names, printing JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

from profiler.errors import UsageError


def resolve_model(name: str):  # -> models.ModelInfo
    """The registration of ``name``, or a UsageError listing close matches."""
    import models

    try:
        return models.model_info(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def print_json(obj: Any) -> None:
    """Pretty JSON on stdout (NaN becomes null so that strict parsers accept it)."""
    json.dump(_clean(obj), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:  # NaN
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return _clean(obj.item())
    return obj
