"""Module ranges for the profiler, and the memory traffic of each module's own operators.

``ModuleRanges`` opens a ``record_function`` range named ``archprof.module::<dotted path>`` around every module's
forward (forward pre/post hooks), so that each operator the profiler records can be attributed to the innermost
module that ran it — on CPU and on CUDA alike (``torch.profiler``'s ``with_modules`` covers TorchScript only).

``module_traffic`` runs one forward on fake tensors (no kernels) under a dispatch mode that adds, for every aten
operator except views and allocations, the bytes of its distinct tensor inputs (weights included) and outputs to
the innermost running module: the traffic of eager execution where each operator reads its inputs from and writes
its outputs to memory once (no reuse between operators in cache), the lower bound an unfused kernel pays.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from profiler.counting.ops import NOT_COMPUTED

MODULE_PREFIX = "archprof.module::"
STEP_NAME = "archprof.step"
ROOT_LABEL = "(model)"


def module_label(name: str) -> str:
    """The row name of a module: its dotted path, ``(model)`` for the root."""
    return name or ROOT_LABEL


class _Stack:
    """Forward pre/post hooks on every module keeping the stack of running module names (innermost last)."""

    def __init__(self, model: nn.Module) -> None:
        self.names = {id(m): module_label(n) for n, m in model.named_modules()}
        self.types = {module_label(n): type(m).__name__ for n, m in model.named_modules()}
        self.stack: list[str] = []
        self._handles = []
        for module in model.modules():
            self._handles.append(module.register_forward_pre_hook(self._pre))
            self._handles.append(module.register_forward_hook(self._post))

    def _pre(self, module: nn.Module, args: Any) -> None:
        self.stack.append(self.names[id(module)])

    def _post(self, module: nn.Module, args: Any, out: Any) -> None:
        if self.stack:
            self.stack.pop()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class ModuleRanges(_Stack):
    """A profiler range per module call (see module doc); use as a context manager to remove the hooks."""

    def __init__(self, model: nn.Module) -> None:
        self._open: list[Any] = []
        super().__init__(model)

    def _pre(self, module: nn.Module, args: Any) -> None:
        super()._pre(module, args)
        rf = torch.autograd.profiler.record_function(MODULE_PREFIX + self.names[id(module)])
        rf.__enter__()
        self._open.append(rf)

    def _post(self, module: nn.Module, args: Any, out: Any) -> None:
        super()._post(module, args, out)
        if self._open:
            self._open.pop().__exit__(None, None, None)

    def remove(self) -> None:
        while self._open:  # a forward that raised leaves ranges open: close them so the profiler stays sound
            self._open.pop().__exit__(None, None, None)
        super().remove()


class _TrafficMode(TorchDispatchMode):
    def __init__(self, stack: _Stack, bytes_per_float: int) -> None:
        super().__init__()
        self.stack = stack
        self.bpf = bytes_per_float
        self.bytes: Counter[str] = Counter()
        self.ops: Counter[str] = Counter()

    def _nbytes(self, t: torch.Tensor) -> int:
        # The fake forward runs in fp32; floating tensors are charged at the traced dtype's element size.
        return t.numel() * (self.bpf if t.is_floating_point() else t.element_size())

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        outputs = [x for x in tree_flatten(out)[0] if isinstance(x, torch.Tensor)]
        # Views, allocations and queries that return no tensor (prim.device, sizes) move no data.
        if func.is_view or func.overloadpacket.__name__ in NOT_COMPUTED or not outputs:
            return out
        seen: set[int] = set()
        total = 0
        for leaf in tree_flatten((args, kwargs or {}))[0] + outputs:
            if isinstance(leaf, torch.Tensor) and id(leaf) not in seen:
                seen.add(id(leaf))
                total += self._nbytes(leaf)
        # An in-place op's output is its input: it was read and is written, so charge it twice.
        if func._schema.name.endswith("_"):
            total += self._nbytes(outputs[0])
        name = self.stack.stack[-1] if self.stack.stack else ROOT_LABEL
        self.bytes[name] += total
        self.ops[name] += 1
        return out


def module_traffic(model: nn.Module, input_shape: tuple[int, ...], bytes_per_float: int) -> tuple[dict, dict]:
    """({module label: bytes}, {module label: aten ops}) of one forward of ``model`` (fp32, on CPU) on fake tensors
    of ``input_shape``, floating tensors charged ``bytes_per_float`` bytes per element."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with _Stack(model) as stack, torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.zeros(input_shape)  # (B, 3, H, W), made outside the traffic mode: not charged
        mode = _TrafficMode(stack, bytes_per_float)
        with mode:
            model(x)
    return dict(mode.bytes), dict(mode.ops)
