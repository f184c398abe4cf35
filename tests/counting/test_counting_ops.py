"""``ops`` (aten operators launched) and ``bytes`` (memory-traffic lower bound): exact, against hand derivations."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from torch import nn

import models
from profiler.counting import count, count_model


@pytest.fixture(scope="module")
def resnet50():
    return count_model("resnet50", method="torch")


def _by_op(c) -> Counter:
    out: Counter = Counter()
    for r in c.op_table:
        out[r.op] += r.count
    return out


def test_resnet50_ops_by_hand(resnet50):
    # ResNet-50: stem conv+bn+relu+maxpool; 16 bottlenecks [3, 4, 6, 3] of 3 conv+bn, 3 relu and one add, 4 of
    # them with a conv+bn projection; global average pool (aten.mean) and the FC (addmm; its t() is a view).
    blocks, projections = 3 + 4 + 6 + 3, 4
    conv = 1 + 3 * blocks + projections  # 53
    relu = 1 + 3 * blocks  # 49
    expected = {
        "convolution": conv,
        "native_batch_norm": conv,
        "relu_": relu,
        "add": blocks,
        "max_pool2d_with_indices": 1,
        "mean": 1,
        "addmm": 1,
    }
    assert dict(_by_op(resnet50)) == expected
    assert resnet50.ops == sum(expected.values()) == 174


def test_regnetx_ops_from_block_counts():
    spec = models.get_spec("regnetx_400mf")
    depths = [d for d, *_ in spec.stages()]
    # stem conv+bn+relu; per block a/b/c convs with BN, relu after a, b and the add; a projection conv+bn at the
    # first block of each stage (stride 2); head mean + addmm. No SE in RegNetX.
    expected = 3 + 10 * sum(depths) + 2 * len(depths) + 2
    assert count_model("regnetx_400mf", method="torch").ops == expected


def test_resnet50_weight_traffic_is_params_plus_bn_statistics(resnet50):
    model = models.get_model("resnet50")
    bn_stats = sum(
        m.running_mean.numel() + m.running_var.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d)
    )
    weights = sum(r.weight_elems * r.count for r in resnet50.op_table)
    assert weights == resnet50.params + bn_stats  # every parameter and BN statistic read exactly once


def test_resnet50_activation_traffic_matches_module_shapes(resnet50):
    # Independent reference from module hooks: each conv/bn/pool/linear reads its input and writes its output;
    # in-place ReLU reads and writes its tensor; each residual add reads two tensors and writes one.
    model = models.get_model("resnet50").eval()
    total = 0

    def hook(m, args, out):
        nonlocal total
        n_in, n_out = args[0].numel(), out.numel()
        if isinstance(m, nn.ReLU):
            total += 2 * n_in  # the hook fires on every call, also of a module reused inside a block
        elif isinstance(m, models.resnet.Bottleneck):
            total += 3 * n_out
        else:
            total += n_in + n_out

    import torch

    for m in model.modules():
        if isinstance(
            m,
            (
                nn.Conv2d,
                nn.BatchNorm2d,
                nn.MaxPool2d,
                nn.AdaptiveAvgPool2d,
                nn.Linear,
                nn.ReLU,
                models.resnet.Bottleneck,
            ),
        ):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    acts = sum(r.act_elems * r.count for r in resnet50.op_table)
    assert acts == total
    assert resnet50.bytes == 4 * (acts + sum(r.weight_elems * r.count for r in resnet50.op_table))


def test_op_table_macs_sum_to_total_and_batch_scales_activations_only(resnet50):
    assert sum(r.macs * r.count for r in resnet50.op_table) == resnet50.macs
    two = count(models.get_model("resnet50"), (2, 3, 224, 224), method="torch")
    assert two.ops == resnet50.ops
    w1 = sum(r.weight_elems * r.count for r in resnet50.op_table)
    a1 = sum(r.act_elems * r.count for r in resnet50.op_table)
    assert sum(r.weight_elems * r.count for r in two.op_table) == w1
    assert sum(r.act_elems * r.count for r in two.op_table) == 2 * a1


def test_fvcore_and_torch_paths_agree_and_to_dict_carries_ops(resnet50):
    ref, fake = (count_model("resnet18", resolution=64, method=m) for m in ("fvcore", "torch"))
    assert (ref.ops, ref.bytes, ref.op_table) == (fake.ops, fake.bytes, fake.op_table)
    d = resnet50.to_dict(per_layer=True)
    assert (d["ops"], d["bytes"]) == (174, resnet50.bytes)
    assert sum(r["count"] for r in d["op_table"]) == 174
    assert math.isclose(d["bytes"], 425_995_840)
