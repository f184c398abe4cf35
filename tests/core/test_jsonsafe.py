"""profiler.core.jsonsafe: the one JSON cleaner, and the import direction it restores (library never imports the
CLI)."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from profiler.core.jsonsafe import dumps, json_safe

ROOT = Path(__file__).resolve().parents[2]


def test_nan_inf_numpy_torch_become_plain_json() -> None:
    obj = {
        1: (math.nan, -math.inf, np.float64("nan"), np.float32(0.5)),
        "ints": [np.int64(3), np.bool_(True), True, None],
        "array": np.array([[1.0, np.inf]]),
        "tensor": torch.tensor([2.5, float("nan")]),
        "scalar": torch.tensor(7),
    }
    out = json_safe(obj)
    assert out == {
        "1": [None, None, None, 0.5],
        "ints": [3, True, True, None],
        "array": [[1.0, None]],
        "tensor": [2.5, None],
        "scalar": 7,
    }
    assert type(out["1"][3]) is float and type(out["ints"][0]) is int and type(out["ints"][1]) is bool
    assert json.loads(dumps(obj)) == out


def test_dumps_is_strict_for_what_it_cannot_clean() -> None:
    class Odd:  # not JSON, not numpy: left alone, so json.dumps names it instead of printing garbage
        pass

    with pytest.raises(TypeError):
        dumps({"x": Odd()})


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_library_never_imports_the_cli_and_models_never_imports_profiler() -> None:
    up = []
    for path in sorted((ROOT / "profiler").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("profiler/commands/") or rel in ("profiler/cli.py", "profiler/__main__.py"):
            continue
        up += [f"{rel} imports {m}" for m in _imports(path) if m.startswith(("profiler.commands", "profiler.cli"))]
    for path in sorted((ROOT / "models").rglob("*.py")):
        up += [f"{path.relative_to(ROOT)} imports {m}" for m in _imports(path) if m.split(".")[0] == "profiler"]
    assert not up, up
