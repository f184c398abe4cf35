"""Memory traffic as a function of (batch, dtype) and op classes: exact, against hand derivations (issue #26)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from profiler.counting import count_model
from profiler.counting.opclass import element_bytes, op_class, traffic_by_class, traffic_bytes

# ResNet-50 from its op table (tests/counting/test_counting_ops.py derives both by hand from the module shapes):
# weights W = 25,557,032 parameters + 53,120 BN running statistics (2 × 26,560 BN channels) = 25,610,152 elements,
# of which conv + FC weights 25,557,032 − 53,120 BN affine = 25,503,912 and BN 106,240;
# activations A = 80,888,808 elements read + written per image.
W, W_MAC, W_BN, A = 25_610_152, 25_503_912, 106_240, 80_888_808


@pytest.fixture(scope="module")
def resnet50():
    return count_model("resnet50", method="torch")


def test_resnet50_weights_and_activations_of_the_table(resnet50):
    assert sum(r.weight_elems * r.count for r in resnet50.op_table) == W == W_MAC + W_BN
    assert sum(r.act_elems * r.count for r in resnet50.op_table) == A


@pytest.mark.parametrize(
    ("batch", "dtype", "expected"),
    [
        (1, "fp32", 4 * (1 * A + W)),  # 425,995,840 = the old per-image ``bytes``
        (64, "fp32", 4 * (64 * A + W)),  # weights once per batch: 20,809,975,456, not 64 × 425,995,840
        (1, "fp16", 2 * (1 * A + W)),
        (64, "fp16", 2 * (64 * A + W)),
        # autocast: 2-byte activations, conv/FC weights cast per call (4 + 2 + 2 bytes), BN weights stay fp32
        (1, "amp", 2 * A + 8 * W_MAC + 4 * W_BN),
        (64, "amp", 2 * 64 * A + 8 * W_MAC + 4 * W_BN),
    ],
)
def test_resnet50_traffic_by_batch_and_dtype(resnet50, batch, dtype, expected):
    assert traffic_bytes(resnet50.op_table, batch, dtype) == expected
    assert sum(v["bytes"] for v in traffic_by_class(resnet50.op_table, batch, dtype).values()) == expected


def test_literal_values_of_the_hand_derivation(resnet50):
    assert traffic_bytes(resnet50.op_table, 1, "fp32") == resnet50.bytes == 425_995_840
    assert traffic_bytes(resnet50.op_table, 64, "fp32") == 20_809_975_456
    assert traffic_bytes(resnet50.op_table, 64, "fp16") == 10_404_987_728


def test_resnet50_classes(resnet50):
    by = traffic_by_class(resnet50.op_table, 1, "fp32")
    assert {c: v["ops"] for c, v in by.items()} == {
        "conv": 53,
        "linear": 1,
        "norm": 53,
        "pool": 2,
        "elementwise": 65,
    }  # 49 relu_ + 16 add; max pool + mean
    assert by["conv"]["macs"] + by["linear"]["macs"] == resnet50.macs
    assert by["linear"]["macs"] == 2048 * 1000


def test_depthwise_convs_carry_their_groups():
    c = count_model("mobilenet_v1_x0_25", resolution=64, method="torch")
    grouped = [r for r in c.op_table if op_class(r.op, r.groups, r.weight_elems) == "conv_dw"]
    assert sum(r.count for r in grouped) == 13  # one depthwise conv per block (identical calls share a row)
    # a depthwise conv has one input channel per group: its weight is groups × 1 × 3 × 3 (no bias)
    assert all(r.weight_elems == 9 * r.groups for r in grouped)
    assert all(r.groups == 1 for r in c.op_table if r.op != "convolution")


def test_op_class_mapping():
    assert [
        op_class(o)
        for o in (
            "addmm",
            "native_batch_norm",
            "max_pool2d_with_indices",
            "mean",
            "cat",
            "_unsafe_view",
            "relu_",
            "sigmoid",
        )
    ] == ["linear", "norm", "pool", "pool", "copy", "copy", "elementwise", "elementwise"]
    assert op_class("convolution", 1) == "conv" and op_class("convolution", 32) == "conv_grouped"
    assert op_class("convolution", 32, 32 * 9) == "conv_dw" and op_class("convolution", 32, 32 * 26) == "conv_dw"
    assert op_class("convolution", 32, 32 * 4 * 4 * 9) == "conv_grouped"  # ResNeXt-like: 4 channels per group
    assert element_bytes("native_layer_norm", 1, "amp") == (4, 4)  # autocast's fp32 list
    assert element_bytes("relu_", 1, "bf16") == (2, 2)
    with pytest.raises(ValueError, match="valid: fp32"):
        element_bytes("relu_", 1, "int8")
    with pytest.raises(ValueError, match="batch"):
        traffic_bytes([], 0, "fp32")


def test_an_op_table_without_groups_is_still_read():
    from profiler.analysis.optables import table_from_doc

    old = {
        "input_shape": [1, 3, 8, 8],
        "columns": ["op", "macs", "weight_elems", "act_elems", "count"],
        "rows": [["convolution", 10, 2, 3, 1], ["relu_", 0, 0, 4, 2]],
    }
    t = table_from_doc(old)
    assert not t.has_groups and t.classes == ("conv", "elementwise")
    assert t.traffic(2, "fp16") == 2 * (2 + 2 * 3) + 2 * (2 * 2 * 4)
    new = table_from_doc(
        {
            **old,
            "columns": [*old["columns"], "groups"],
            "rows": [["convolution", 10, 2, 3, 1, 4], ["relu_", 0, 0, 4, 2, 1]],
        }
    )
    assert new.has_groups and new.classes == ("conv_grouped", "elementwise")  # 2 weights over 4 groups: not k²
    assert np.array_equal(new.row_bytes(1, "fp32"), [4 * (2 + 3), 4 * 4])


def test_op_table_doc_has_groups_last(resnet50):
    from profiler.counting.ops import op_table_doc

    doc = json.loads(json.dumps(op_table_doc(resnet50)))
    assert doc["columns"][-1] == "groups" and doc["columns"][:5] == ["op", "macs", "weight_elems", "act_elems", "count"]
    assert all(len(r) == 6 for r in doc["rows"])


def test_resnext_convs_are_grouped_not_depthwise():
    c = count_model("resnext50_32x4d", resolution=64, method="torch")
    by = traffic_by_class(c.op_table, 1, "fp32")
    assert by["conv_grouped"]["ops"] == 16 and "conv_dw" not in by  # one 3×3 grouped conv per bottleneck


def test_count_cli_carries_bytes_at_its_batch_and_dtype(capsys):
    from profiler.cli import main

    assert main(["count", "resnet50", "--batch", "64", "--dtype", "fp16", "--json", "--method", "torch"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert (obj["batch"], obj["dtype"], obj["bytes"]) == (64, "fp16", 2 * (64 * A + W))
    assert sum(v["bytes"] for v in obj["by_class"].values()) == obj["bytes"]
    assert main(["count", "resnet50", "--dtype", "int8"]) == 2
    assert "valid: fp32" in capsys.readouterr().err


def test_a_rows_bytes_batch_is_its_traffic_at_its_batch_and_dtype(tmp_path):
    import dataclasses

    import models
    from profiler.counting.cache import CountCache
    from profiler.sweep.tasks import Task

    spec = models.get_spec("resnet50")
    task = Task(
        "resnet50",
        "resnet",
        models.spec_to_dict(spec),
        models.spec_hash(spec),
        "eager",
        "cuda",
        "fp16",
        "contiguous",
        64,
        224,
        0,
    )
    cache = CountCache(tmp_path)
    cache.get(task, spec)
    assert cache.bytes_batch(task) == 2 * (64 * A + W)
    fresh = CountCache(tmp_path)  # another worker process: reads the run's ops.json
    assert fresh.bytes_batch(dataclasses.replace(task, dtype="fp32", batch=1)) == 4 * (A + W)
    assert fresh.bytes_batch(dataclasses.replace(task, dtype="int8")) is None
