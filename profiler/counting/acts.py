"""Activations: ``acts`` from forward hooks on modules (``acts_all`` is counted by ``dispatch.CountingMode``).

``acts`` (RegNet §4, pycls): output elements of every conv module (``nn.Conv1d/2d/3d`` and transposed convs), every
``nn.Linear``, and every pooling module (max/avg/LP, fixed or adaptive) whose output is not a global pool. A pool is
*global* when its output has a single spatial element (1×1), the rule pycls applies to ``gap2d``. Not counted: BN,
activations, adds, concat, shuffle, global pooling, and convs/pools called functionally (``F.conv2d``) outside a
module — ``HookRecorder`` counts those aten ops separately so that such a model is reported, not miscounted.

``acts_all``: output elements of every aten op except views and allocations, see ``counting.dispatch``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

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
        # Two global hooks instead of two per module (thousands of registrations per model); calls of modules
        # outside ``model`` (another model in another thread) are ignored by name lookup.
        self._handles = [
            nn.modules.module.register_module_forward_pre_hook(self._pre),
            nn.modules.module.register_module_forward_hook(self._post),
        ]

    def _pre(self, module: nn.Module, args: Any) -> None:
        name = self._names.get(id(module))
        if name is not None:
            self.stack.append(name)

    def _post(self, module: nn.Module, args: Any, out: Any) -> None:
        name = self._names.get(id(module))
        if name is None:
            return
        if self.stack:
            self.stack.pop()
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
