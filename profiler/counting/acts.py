"""Activations: ``acts`` from forward hooks on modules, ``acts_all`` from a dispatch mode over aten ops.

``acts`` (RegNet §4, pycls): output elements of every conv module (``nn.Conv1d/2d/3d`` and transposed convs), every
``nn.Linear``, and every pooling module (max/avg/LP, fixed or adaptive) whose output is not a global pool. A pool is
*global* when its output has a single spatial element (1×1), the rule pycls applies to ``gap2d``. Not counted: BN,
activations, adds, concat, shuffle, global pooling, and convs/pools called functionally (``F.conv2d``) outside a
module — ``HookRecorder`` counts those aten ops separately so that such a model is reported, not miscounted.

``acts_all``: see :class:`ActsAllMode`.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from profiler.counting.ops import OpRecorder

_CONV_LINEAR = (nn.modules.conv._ConvNd, nn.Linear)
_POOLS = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
)

_FIXED_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)


def _first_tensor(out: Any) -> torch.Tensor | None:
    for leaf in tree_flatten(out)[0]:
        if isinstance(leaf, torch.Tensor):
            return leaf
    return None


def counts_as_act(module: nn.Module, out_shape: tuple[int, ...]) -> bool:
    """Whether ``module``'s output of ``out_shape`` (B, C, *spatial) counts toward ``acts``."""
    if isinstance(module, _CONV_LINEAR):
        return True
    if isinstance(module, _POOLS):
        return math.prod(out_shape[2:]) > 1  # a 1×1 output is a global pool
    return False


class HookRecorder:
    """Forward hooks on every module: output shape, own ``acts``, and the module being run (for error messages).

    Hooks are plain Python and fire under fvcore's jit trace too, so MACs and acts come from the same forward.
    """

    def __init__(self, model: nn.Module) -> None:
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.acts: Counter[str] = Counter()  # module name → output elements (summed over calls)
        self.calls: Counter[str] = Counter()  # module type → number of calls that counted toward acts
        self.stack: list[str] = []  # names of the modules being run, innermost last
        self._names = {id(m): n for n, m in model.named_modules()}
        self._handles = []
        for module in model.modules():
            self._handles.append(module.register_forward_pre_hook(self._pre))
            self._handles.append(module.register_forward_hook(self._post))

    def _pre(self, module: nn.Module, args: Any) -> None:
        self.stack.append(self._names[id(module)])

    def _post(self, module: nn.Module, args: Any, out: Any) -> None:
        name = self.stack.pop() if self.stack else self._names[id(module)]
        tensor = _first_tensor(out)
        if tensor is None:
            return
        shape = tuple(int(s) for s in tensor.shape)  # ints, also under the jit tracer
        self.shapes[name] = shape
        if counts_as_act(module, shape):
            self.acts[name] += math.prod(shape)
        if isinstance(module, nn.modules.conv._ConvNd):
            self.calls["conv"] += 1
        elif isinstance(module, _FIXED_POOLS):
            self.calls["pool"] += 1

    def running(self) -> str | None:
        """The innermost module whose forward was running when an exception escaped (None if none)."""
        return self.stack[-1] if self.stack else None

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


# Ops whose output is not a computed tensor: allocations; views and metadata are excluded via `is_view`.
_NOT_COMPUTED = {
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
# The aten ops that conv modules and fixed (non-adaptive) pool modules reach the dispatcher as.
MODULE_OPS = {
    "conv": {
        "convolution",
        "_convolution",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "mkldnn_convolution",
    },
    "pool": {
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "max_pool1d_with_indices",
        "max_pool2d_with_indices",
        "max_pool3d_with_indices",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
    },
}


class ActsAllMode(TorchDispatchMode):
    """Counts ``acts_all``: output elements of every aten op that reaches the dispatcher after autograd.

    Counted: the first tensor output of each op call (in-place ops included — they compute their output), so
    ``max_pool2d_with_indices`` counts the pooled tensor but not the indices, and eval batch norm counts its
    output but not its saved statistics. Not counted: view/alias ops (``OpOverload.is_view``: view, reshape as a
    view, t, transpose, permute, expand, squeeze, slice, select, …), allocations (``empty*``), ``detach``, and
    scalar reads. Composite ops are seen decomposed (``linear`` → ``t`` + ``addmm``; global pool → ``mean``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.ops: Counter[str] = Counter()  # op name → calls, for the functional-conv cross-check
        self.recorder = OpRecorder()  # ops launched, their MACs and memory traffic (``counting.ops``)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        self.ops[name] += 1
        self.recorder.record(func, args, kwargs, out)
        if func.is_view or name in _NOT_COMPUTED:
            return out
        tensor = _first_tensor(out)
        if tensor is not None:
            self.total += tensor.numel()
        return out

    def calls(self, kind: str) -> int:
        """How many ``kind`` ("conv" or "pool") ops ran, to compare with the module calls the hooks saw."""
        return sum(n for op, n in self.ops.items() if op in MODULE_OPS[kind])
