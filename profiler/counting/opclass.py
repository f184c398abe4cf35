"""Op classes and memory traffic as a function of batch and dtype, from a per-op table (``counting.ops``).

**Op classes** (what the per-op-class runtime model fits one throughput each for), from the aten name and, for a
convolution, its ``groups``:

=================  ===========================================================================================
class              aten ops
=================  ===========================================================================================
``conv``           ``convolution`` / ``_convolution`` with groups == 1 (dense)
``conv_dw``        the same with groups > 1 and one input and output channel per group (depthwise: the weight has
                   k² elements per group, k² + 1 with a bias)
``conv_grouped``   any other conv with groups > 1 (ResNeXt, RegNet: several channels per group)
``linear``         ``addmm``, ``mm``, ``bmm``, ``baddbmm``, ``matmul``, ``linear``, ``einsum``, attention
``norm``           ``native_batch_norm`` and the other batch/layer/group/instance norms, ``_softmax``/``softmax``
``pool``           ``max_pool*``, ``avg_pool*``, ``adaptive_*_pool*``, ``mean`` / ``sum`` / ``amax`` (global pools)
``copy``           ``cat``, ``stack``, ``clone``, ``copy_``, ``_to_copy``, ``_unsafe_view``, ``constant_pad_nd``,
                   ``index*``, ``gather``, ``repeat``, ``roll``, ``pixel_shuffle``, … (data movement, no arithmetic)
``elementwise``    every other op (``relu_``, ``add``, ``mul``, ``sigmoid``, ``silu``, ``hardswish``, ``gelu``, …)
=================  ===========================================================================================

**Traffic** of one op call at batch B and dtype D (bytes; the ``bytes_batch`` of a row):

    B · act_elems · act_bytes(op, D)  +  weight_elems · weight_bytes(op, D)

activation elements (computed tensors, counted at batch 1) scale with the batch; weights (parameters, buffers) are
read once per batch. Element sizes: fp32/tf32 4 and 4; fp16/bf16 (a converted model) 2 and 2. ``amp`` (autocast:
fp16 on CUDA, bf16 on CPU — both 2-byte types) follows PyTorch's autocast op lists
(``aten/src/ATen/autocast_mode.cpp``): ops on the lower-precision list (convolutions, linear/matmul — our ``conv*``
and ``linear`` classes) write 2-byte activations and read their fp32 weights through a cast made
at every call (read 4 + write 2 + read 2 = 8 bytes per weight element; timm's benchmark enters autocast per step, so
the cast cache does not outlive a step); ops on the fp32 list (``layer_norm``, ``group_norm``, softmax-class, norms
of vectors) move 4-byte activations; every other op runs in its input's type, 2 bytes after a half-precision conv,
with its own weights (batch-norm affine and statistics) at 4 bytes. This is a lower bound per op, as ``bytes`` is:
no cache reuse between ops, no extra cast kernels counted as traffic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

OP_CLASSES = ("conv", "conv_dw", "conv_grouped", "linear", "norm", "pool", "elementwise", "copy")
CLASS_LABELS = {
    "conv": "dense conv",
    "conv_dw": "depthwise conv",
    "conv_grouped": "grouped conv",
    "linear": "linear/matmul",
    "norm": "norm",
    "pool": "pooling",
    "elementwise": "elementwise",
    "copy": "concatenation/copy",
}
TRAFFIC_DTYPES = ("fp32", "tf32", "fp16", "bf16", "amp")

_CONV = frozenset({"convolution", "_convolution", "conv2d", "conv1d", "conv3d", "convolution_overrideable"})
_LINEAR = frozenset(
    {
        "addmm",
        "mm",
        "bmm",
        "baddbmm",
        "matmul",
        "linear",
        "einsum",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "scaled_dot_product_attention",
        "_addmm_activation",
    }
)
_NORM = frozenset(
    {
        "native_batch_norm",
        "_native_batch_norm_legit",
        "_native_batch_norm_legit_no_training",
        "batch_norm",
        "cudnn_batch_norm",
        "native_layer_norm",
        "layer_norm",
        "native_group_norm",
        "group_norm",
        "instance_norm",
        "_softmax",
        "softmax",
        "_log_softmax",
        "log_softmax",
        "rms_norm",
        "_fused_rms_norm",
    }
)
_POOL_PREFIXES = ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool", "_adaptive_avg_pool")
_POOL = frozenset({"mean", "sum", "amax", "amin"})
_COPY = frozenset(
    {
        "cat",
        "stack",
        "clone",
        "copy_",
        "copy",
        "_to_copy",
        "_unsafe_view",
        "constant_pad_nd",
        "index",
        "index_select",
        "gather",
        "repeat",
        "roll",
        "pixel_shuffle",
        "pixel_unshuffle",
        "channel_shuffle",
        "native_channel_shuffle",
        "flip",
        "reflection_pad2d",
        "replication_pad2d",
        "upsample_nearest2d",
        "_unsafe_index",
        "fill_",
        "zero_",
    }
)
# autocast's fp32 list (CUDA and CPU), the ops here that have one: they run in fp32 whatever their input.
_AMP_FP32 = frozenset(
    {
        "native_layer_norm",
        "layer_norm",
        "native_group_norm",
        "group_norm",
        "_softmax",
        "softmax",
        "_log_softmax",
        "log_softmax",
        "norm",
        "linalg_vector_norm",
        "rms_norm",
        "_fused_rms_norm",
        "sum",
        "cumsum",
        "prod",
        "pow",
        "exp",
        "log",
        "rsqrt",
        "erfinv",
        "acos",
        "asin",
        "cosh",
        "sinh",
        "tan",
        "reciprocal",
    }
)
_HALF_CLASSES = frozenset({"conv", "conv_dw", "conv_grouped", "linear"})  # autocast's lower-precision list


# weight elements per group of a depthwise conv (one input and one output channel per group): k² or k² + 1 (bias)
_DW_PER_GROUP = frozenset(n for k in (1, 3, 5, 7, 9, 11) for n in (k * k, k * k + 1))


def op_class(op: str, groups: int = 1, weight_elems: int | None = None) -> str:
    """The class of one aten op (names as ``counting.ops`` records them; see the module docstring). A grouped conv
    is depthwise when its ``weight_elems`` per group is k² (+1 with a bias) for an odd k ≤ 11."""
    if op in _CONV:
        if int(groups) == 1:
            return "conv"
        per_group = None if weight_elems is None else weight_elems / int(groups)
        return "conv_dw" if per_group in _DW_PER_GROUP else "conv_grouped"
    if op in _LINEAR:
        return "linear"
    if op in _NORM:
        return "norm"
    if op in _POOL or op.startswith(_POOL_PREFIXES):
        return "pool"
    if op in _COPY:
        return "copy"
    return "elementwise"


def check_dtype(dtype: str) -> str:
    """``dtype`` if traffic is defined for it, else ValueError naming the valid ones."""
    if dtype not in TRAFFIC_DTYPES:
        raise ValueError(f"no element size for dtype {dtype!r}; valid: {', '.join(TRAFFIC_DTYPES)}")
    return dtype


def element_bytes(op: str, groups: int, dtype: str) -> tuple[int, int]:
    """(bytes per activation element, bytes per weight element) of one op at ``dtype`` (module docstring)."""
    check_dtype(dtype)
    if dtype in ("fp32", "tf32"):
        return 4, 4
    if dtype in ("fp16", "bf16"):
        return 2, 2
    if op in _AMP_FP32:  # amp
        return 4, 4
    return (2, 8) if op in _CONV or op_class(op) in _HALF_CLASSES else (2, 4)


def traffic_bytes(records: Iterable[Any], batch: int, dtype: str) -> int:
    """Memory traffic (bytes) of one forward at ``batch`` and ``dtype`` from batch-1 ``OpRecord``-like rows
    (attributes op, weight_elems, act_elems, count, and optionally groups)."""
    if int(batch) < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    total = 0
    for r in records:
        act_b, w_b = element_bytes(r.op, getattr(r, "groups", 1), dtype)
        total += r.count * (int(batch) * r.act_elems * act_b + r.weight_elems * w_b)
    return int(total)


def traffic_by_class(records: Iterable[Any], batch: int, dtype: str) -> dict[str, dict[str, int]]:
    """Per op class: ops (calls), MACs (batch B) and traffic bytes at (batch, dtype); classes with no op left out."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        cls = op_class(r.op, getattr(r, "groups", 1), r.weight_elems)
        act_b, w_b = element_bytes(r.op, getattr(r, "groups", 1), dtype)
        d = out.setdefault(cls, {"ops": 0, "macs": 0, "bytes": 0})
        d["ops"] += r.count
        d["macs"] += r.count * r.macs * int(batch)
        d["bytes"] += r.count * (int(batch) * r.act_elems * act_b + r.weight_elems * w_b)
    return {c: out[c] for c in OP_CLASSES if c in out}


def traffic_of_doc(doc: dict[str, Any], batch: int, dtype: str) -> int:
    """``traffic_bytes`` of an op-table document (``counting.ops.op_table_doc``, counted at batch 1; a table
    without the ``groups`` column counts its convs as dense)."""
    from types import SimpleNamespace

    cols = doc["columns"]
    rows = [SimpleNamespace(**{"groups": 1, **dict(zip(cols, r, strict=True))}) for r in doc["rows"]]
    return traffic_bytes(rows, batch, dtype)
