"""``tests/data/tinynet.py``'s hand-computed counts, importable by the tests (the network file stays a data file)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
try:
    from tinynet import expected
finally:
    sys.path.pop(0)

__all__ = ["expected"]
