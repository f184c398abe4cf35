"""A forward on fake tensors (no kernels run): ``acts_all`` always, MACs too with ``FlopCounterMode``.

``torch.utils.flop_counter.FlopCounterMode`` counts 2 × MACs of conv and matmul-like ops (biases not counted), the
same definition as our fvcore rules, so ``method="torch"`` gives the same MACs without computing anything.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from profiler.counting.acts import ActsAllMode
from profiler.counting.macs import MAC_OP_PATTERN


class FakeForward:
    """Result of :func:`fake_forward`: the ``ActsAllMode`` that watched it and, if asked, MACs (total, by module)."""

    def __init__(self, mode: ActsAllMode, macs: int, macs_by_module: dict[str, int], uncounted: dict[str, int]):
        self.mode = mode
        self.macs = macs
        self.macs_by_module = macs_by_module
        self.uncounted = uncounted


def fake_forward(
    model: nn.Module, input_shape: tuple[int, ...], device: torch.device, dtype: torch.dtype, count_macs: bool
) -> FakeForward:
    """Run ``model`` once on a fake zero input under ``ActsAllMode`` (and ``FlopCounterMode`` if ``count_macs``)."""
    mode = ActsAllMode()
    counter = FlopCounterMode(display=False) if count_macs else None
    with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.zeros(input_shape, device=device, dtype=dtype)  # made outside `mode`: not counted
        with counter if counter is not None else nullcontext(), mode:
            model(x)
    if counter is None:
        return FakeForward(mode, 0, {}, {})
    root = type(model).__name__
    by_module: dict[str, int] = {}
    for key, per_op in counter.get_flop_counts().items():
        if key == "Global":
            continue
        # keys are "<RootClass>.<dotted path>"; ours are the dotted path ("" for the root)
        name = "" if key == root else key.removeprefix(root + ".")
        by_module[name] = sum(per_op.values()) // 2
    known = {packet.__name__ for packet in counter.flop_registry}
    uncounted = {f"aten::{op}": n for op, n in mode.ops.items() if MAC_OP_PATTERN.search(op) and op not in known}
    return FakeForward(mode, counter.get_total_flops() // 2, by_module, uncounted)
