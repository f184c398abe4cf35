"""Plain-data results of counting: ``Counts`` (totals, per-layer rows, uncounted operators) and ``LayerCount``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from profiler.counting.ops import OpRecord


class CountingError(RuntimeError):
    """A model could not be counted (trace failure, or an uncounted MAC-carrying op under ``strict=True``)."""


@dataclass(frozen=True)
class LayerCount:
    """One row of the per-module table; ``macs``/``params``/``acts`` are the module's own share (no children)."""

    name: str  # dotted module path, "" for the root
    type: str  # class name, e.g. "Conv2d"
    output_shape: tuple[int, ...] | None  # first tensor output of the module's last call; None if not called
    macs: int
    params: int
    acts: int


@dataclass(frozen=True)
class Counts:
    """Counts of one forward pass over the whole input (so ``macs``/``acts``/``acts_all`` scale with batch).

    - ``macs``: multiply-accumulates of conv and linear (matmul-like) ops; biases are not counted.
    - ``params``: every parameter, BN affine included (shared parameters counted once).
    - ``acts``: output elements of conv and linear modules and of non-global pooling modules (RegNet §4).
    - ``acts_all``: output elements of every aten op except views and allocations (see ``dispatch.CountingMode``).
    - ``uncounted_ops``: traced ops without a MAC rule and how often they ran (fvcore's ``unsupported_ops``).
    - ``ops``: aten operators that compute (no views, allocations or metadata): kernel launches in eager mode.
    - ``bytes``: memory-traffic lower bound, Σ over ops of the floating-point elements each reads and writes, at
      the traced dtype's element size; ``op_table`` splits it per op into weights and activations
      (``counting.ops``).
    """

    input_shape: tuple[int, ...]
    macs: int
    params: int
    acts: int
    acts_all: int
    layers: list[LayerCount] = field(default_factory=list)
    uncounted_ops: dict[str, int] = field(default_factory=dict)
    ops: int = 0
    bytes: int = 0
    op_table: list[OpRecord] = field(default_factory=list)

    @property
    def flops(self) -> int:
        """``2 * macs``, for tables and plots that say "FLOPs" explicitly."""
        return 2 * self.macs

    def to_dict(self, per_layer: bool = False) -> dict[str, Any]:
        """JSON-safe dict of the totals (and, with ``per_layer``, the per-module rows)."""
        out: dict[str, Any] = {
            "input_shape": list(self.input_shape),
            "macs": self.macs,
            "params": self.params,
            "acts": self.acts,
            "acts_all": self.acts_all,
            "ops": self.ops,
            "bytes": self.bytes,
            "uncounted_ops": dict(sorted(self.uncounted_ops.items())),
        }
        if per_layer:
            out["op_table"] = [asdict(r) for r in self.op_table]
            out["layers"] = [
                {**asdict(r), "output_shape": None if r.output_shape is None else list(r.output_shape)}
                for r in self.layers
            ]
        return out
