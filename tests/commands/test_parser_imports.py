"""Building the command-line parser (every command, and `--help`) imports no numerical library: a sub-command
imports its heavy dependencies when it runs (profiler/commands/common.py). One import at module level in one
command module made `profiler --help` import torch, pandas, scipy and statsmodels (2.7 s instead of 0.1 s)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "onnxruntime", "timm")

CODE = f"""
import json, sys
from profiler.cli import build_parser
build_parser()
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_building_the_parser_imports_no_numerical_library() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
