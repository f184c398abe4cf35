"""The one JSON cleaner: NaN/inf → null, numpy/torch scalars and arrays → Python, tuples → lists, keys → str.

Used by the commands (``--json`` output), the analysis (``analyze_frame``'s result) and the baseline renderer, so
that every JSON archprof prints parses with a strict parser.

>>> import math
>>> json_safe({1: (math.nan, float("inf"), 2.5)})
{'1': [None, None, 2.5]}
>>> dumps({"x": math.nan})
'{"x": null}'
"""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float as None and every numpy/torch value as plain Python (recursively)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float):  # numpy.float64 too (a float subclass)
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, str | bytes | int):
        return obj
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays, torch tensors, pandas series
    if callable(tolist):
        return json_safe(tolist())
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``json_safe(obj)``, strict (a NaN that slipped through raises rather than print ``NaN``)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)
