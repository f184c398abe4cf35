"""MACs with fvcore: ``FlopCountAnalysis`` restricted to conv and matmul-like ops (fvcore's "flop" is one MAC).

fvcore also has rules for norms, upsampling, adaptive pooling and grid sampling; those are not conv/linear layers,
so by the RegNet definition they contribute 0 MACs and we give them a zero rule instead of dropping them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

# Ops that can carry multiply-accumulates: strict mode refuses to leave any of these uncounted.
MAC_OP_PATTERN = re.compile(r"conv|matmul|mm|linear|einsum|bilinear|addmv|(^|::)mv$|(^|::)dot$|tensordot|attention")

# fvcore's rules for ops that are not conv/linear layers: counted as 0 MACs by definition.
_ZERO_OPS = (
    "aten::batch_norm",
    "aten::group_norm",
    "aten::layer_norm",
    "aten::instance_norm",
    "aten::upsample_nearest2d",
    "aten::upsample_bilinear2d",
    "aten::adaptive_avg_pool2d",
    "aten::grid_sampler",
)


def _zero(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def _conv_nd(inputs: list[Any], outputs: list[Any]) -> int:
    # aten::conv{1,2,3}d(input, weight, bias, stride, padding, dilation, groups): newer tracers may emit these
    # instead of aten::_convolution, whose fvcore rule reads `transposed` from an argument these lack.
    from fvcore.nn.jit_handles import conv_flop_count, get_shape

    return int(conv_flop_count(get_shape(inputs[0]), get_shape(inputs[1]), get_shape(outputs[0])))


def _sdpa(inputs: list[Any], outputs: list[Any]) -> int:
    # aten::scaled_dot_product_attention(q (..., L, E), k (..., S, E), v (..., S, Ev)): Q·Kᵀ and softmax·V, the
    # two matmuls an unfused attention would trace (timm's ViTs call the fused op); as torch's flop counter.
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    return int(batch * q[-2] * k[-2] * (q[-1] + v[-1]))


@contextmanager
def _quiet_fvcore() -> Iterator[None]:
    # fvcore logs skipped ops and uncalled modules through `logging`; the result carries them instead.
    logger = logging.getLogger("fvcore")
    old = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = old


def analyze_macs(model: nn.Module, inputs: tuple[Any, ...]) -> tuple[int, dict[str, int], dict[str, int]]:
    """Trace ``model(*inputs)`` once; return (total MACs, MACs by module name incl. children, uncounted ops).

    The trace runs the model's real forward, so forward hooks registered on it fire during this call.
    """
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn import jit_handles as jh

    analysis = FlopCountAnalysis(model, inputs)
    analysis.clear_op_handles()
    analysis.set_op_handle(
        # fvcore's own rules for conv and matmul-like ops (each counts multiply-accumulates, no bias)
        **{
            "aten::addmm": jh.addmm_flop_jit,
            "aten::mm": jh.matmul_flop_jit,
            "aten::bmm": jh.bmm_flop_jit,
            "aten::matmul": jh.matmul_flop_jit,
            "aten::linear": jh.linear_flop_jit,
            "aten::einsum": jh.einsum_flop_jit,
            "aten::_convolution": jh.conv_flop_jit,
        },
        **dict.fromkeys(_ZERO_OPS, _zero),
        **dict.fromkeys(("aten::conv1d", "aten::conv2d", "aten::conv3d"), _conv_nd),
        **{"aten::scaled_dot_product_attention": _sdpa},
    )
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    with _quiet_fvcore():
        total = int(analysis.total())
        by_module = {k: int(v) for k, v in analysis.by_module().items()}
        uncounted = {k: int(v) for k, v in analysis.unsupported_ops().items()}
    return total, by_module, uncounted
