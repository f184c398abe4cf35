"""Operators launched and memory traffic: ``ops`` and ``bytes`` of a forward, and the per-operator table behind them.

Every aten operator that reaches the dispatcher after autograd and computes something is one *op*: views, aliases,
allocations (``empty*``), metadata reads and ``prim`` ops are not (they launch no kernel). In eager PyTorch each op
is (at least) one kernel launch, so ``ops`` is the N of the launch-bound regime.

Memory traffic lower bound of an op: the elements of every floating-point tensor it reads (inputs) and writes
(outputs), each counted once per op — what an unfused kernel must move at least. An in-place ``relu_`` reads and
writes its tensor (2×), an ``add`` reads two and writes one (3×). Integer tensors (max-pool indices) are left out.
Tensors are split by origin: *weights* are tensors that the forward did not compute (parameters and buffers and
views of them; they do not scale with batch) and *activations* are everything the forward produced (and its input;
they scale with batch). ``bytes`` = (weight + activation elements) × element size of the
traced dtype (4 for the usual fp32 count).

MACs per op come from ``torch.utils.flop_counter``'s formulas (2 FLOPs per MAC), the same as the totals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

# Allocation / metadata ops: no kernel computes their output (views are excluded by ``OpOverload.is_view``).
NOT_COMPUTED = frozenset(
    {
        "empty",
        "empty_like",
        "empty_strided",
        "new_empty",
        "new_empty_strided",
        "detach",
        "alias",
        "lift_fresh",
        "_local_scalar_dense",
        "sym_size",
        "sym_stride",
        "sym_numel",
    }
)


def is_launch(func: Any) -> bool:
    """Whether an aten op computes a tensor (one kernel launch or more in eager mode)."""
    if func.namespace != "aten" or func.is_view:
        return False
    return func.overloadpacket.__name__ not in NOT_COMPUTED


@dataclass(frozen=True)
class OpRecord:
    """One kind of op call: its aten name, MACs, weight and activation elements moved, and how often it ran."""

    op: str  # e.g. "convolution", "relu_"
    macs: int
    weight_elems: int  # floating-point elements of inputs the forward did not compute (params, buffers)
    act_elems: int  # floating-point elements of computed inputs and of outputs
    count: int
    groups: int = 1  # a convolution's groups (1: dense; > 1: grouped or depthwise); 1 for every other op


class OpRecorder:
    """Accumulates the :class:`OpRecord` table; fed one op at a time by ``dispatch.CountingMode``.

    A tensor is an *activation* when an op of this forward produced it (or it is the input, or a view of an
    activation) and a *weight* otherwise: parameters, buffers and views of them (``linear``'s ``t(weight)``).
    """

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, int, int, int, int]] = Counter()
        self.element_size = 4
        # id → tensor of every activation; the tensors are kept alive so that their ids are not reused.
        self._acts: dict[int, torch.Tensor] = {}

    def produced(self, outs: list[Any]) -> None:
        """Mark the tensors among ``outs`` as activations."""
        for t in outs:
            if isinstance(t, torch.Tensor):
                self._acts[id(t)] = t

    def view(self, ins: list[Any], outs: list[Any]) -> None:
        """A view's outputs are activations when the viewed tensor (its first tensor input) is one."""
        for t in ins:
            if isinstance(t, torch.Tensor):
                if id(t) in self._acts:
                    self.produced(outs)
                return

    def _float_elems(self, tensors: list[Any]) -> tuple[int, int]:
        """(weight elements, activation elements) of the floating-point tensors among ``tensors``."""
        w = a = 0
        for t in tensors:
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                if id(t) in self._acts:
                    a += t.numel()
                else:
                    w += t.numel()
        return w, a

    def record(self, op: str, macs: int, ins: list[Any], outs: list[Any], groups: int = 1) -> None:
        """One call of ``op`` that computes: its MACs, flattened inputs (args and kwargs) and outputs, and a
        convolution's ``groups`` (what tells a dense from a depthwise/grouped conv, ``counting.opclass``)."""
        w_in, a_in = self._float_elems(ins)
        floats = [t for t in outs if isinstance(t, torch.Tensor) and t.is_floating_point()]
        a_out = sum(t.numel() for t in floats)  # outputs are computed: activations
        if floats:
            self.element_size = floats[0].element_size()
        self.calls[(op, macs, w_in, a_in + a_out, int(groups))] += 1

    def table(self) -> list[OpRecord]:
        """The records, grouped by identical (op, macs, weight, activation, groups) calls, in first-seen order."""
        return [OpRecord(op, m, w, a, n, g) for (op, m, w, a, g), n in self.calls.items()]

    @property
    def ops(self) -> int:
        return sum(self.calls.values())

    @property
    def bytes(self) -> int:
        return self.element_size * sum((w + a) * n for (_, _, w, a, _), n in self.calls.items())


# "groups" came after the first five: a table without it (older runs) is still read (``analysis.optables``).
OP_TABLE_COLUMNS = ("op", "macs", "weight_elems", "act_elems", "count", "groups")


def op_table_doc(counts: Any) -> dict[str, Any]:
    """JSON-safe per-op table of a ``Counts`` (what ``<spec_hash>_r<res>.ops.json`` in a run's counts/ holds)."""
    return {
        "about": "per aten op that computes: MACs, floating-point elements of weights (params/buffers) and of "
        "activations read+written, a convolution's groups, at input shape " + "x".join(map(str, counts.input_shape)),
        "input_shape": list(counts.input_shape),
        "ops": counts.ops,
        "bytes": counts.bytes,
        "columns": list(OP_TABLE_COLUMNS),
        "rows": [[r.op, r.macs, r.weight_elems, r.act_elems, r.count, r.groups] for r in counts.op_table],
    }
