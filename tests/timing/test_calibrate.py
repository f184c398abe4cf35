"""Batch-norm statistics from data: without them the output checks of deep depthwise networks are vacuous."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import models
from profiler.timing import OutputMismatchError, TimingConfig, measure
from profiler.timing.calibrate import calibrate_bn
from profiler.timing.onnx_prepare import check_graph, prepare_graphs

pytestmark = pytest.mark.usefixtures("one_thread")
RES = 64


def _spread(model: torch.nn.Module) -> float:
    """How much the logits of two different images differ, relative to the logits' scale."""
    x = torch.randn(2, 3, RES, RES, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        y = model(x)
    return float((y[0] - y[1]).abs().max() / y.abs().max())


def test_calibration_gives_a_deep_depthwise_network_an_input_dependent_output() -> None:
    torch.manual_seed(0)
    model = models.get_model("efficientnet_b0").eval()
    assert _spread(model) < 1e-6  # default init, eval mode: the logits are the classifier's bias for any input
    details = calibrate_bn(model, RES)
    assert details["layers"] == sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) > 40
    assert _spread(model) > 1e-2 and not model.training
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))  # restored


def test_calibration_is_done_once_per_resolution_and_travels_with_copies() -> None:
    model = models.get_model("mobilenet_v1_x0_25").eval()
    calibrate_bn(model, RES)
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    mean = bn.running_mean.clone()
    twin = copy.deepcopy(model)
    assert calibrate_bn(twin, RES)["already"] is True
    assert calibrate_bn(model, RES + 32)["already"] is False  # a new resolution: statistics of that input
    assert not torch.equal(bn.running_mean, mean)


def _corrupt_a_middle_conv(path) -> None:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path))
    convs = [n for n in graph.graph.node if n.op_type == "Conv"]
    weight_name = convs[len(convs) // 2].input[1]
    init = next(i for i in graph.graph.initializer if i.name == weight_name)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 2, weight_name))
    onnx.save(graph, str(path))


@pytest.mark.parametrize("calibrated", [True, False])
def test_the_graph_check_catches_a_wrong_convolution_only_with_calibrated_statistics(
    tmp_path, monkeypatch, calibrated: bool
) -> None:
    if not calibrated:  # the old behaviour, kept here to show what the calibration buys
        monkeypatch.setattr("profiler.timing.calibrate.calibrate_bn", lambda model, resolution: {"layers": 0})
    torch.manual_seed(0)
    entry, _ = prepare_graphs(
        models.get_model("mobilenet_v1_x0_25"),
        resolution=RES,
        dtypes=["fp32"],
        cache_key="m",
        cache_dir=tmp_path,
        exporter="torchscript",
    )["fp32"]
    ref_in, ref_out = entry.reference()
    _corrupt_a_middle_conv(entry.graph)
    if calibrated:
        with pytest.raises(OutputMismatchError):
            check_graph(entry.graph, ref_in, ref_out, "fp32")
    else:
        assert check_graph(entry.graph, ref_in, ref_out, "fp32") < 1e-6  # vacuous: the wrong graph passes


def test_every_backend_but_onnxruntime_records_its_calibration() -> None:
    model = models.get_model("mobilenet_v1_x0_25")
    r = measure(
        model,
        backend="eager",
        device="cpu",
        dtype="fp32",
        batch=1,
        resolution=RES,
        config=TimingConfig(iters=3, warmup_s=0.0),
    )
    assert r.details["bn_calibration"]["layers"] == 27 and r.details["bn_calibration"]["seed"] != 0
    assert np.isfinite(r.stats["latency_ms_median"])
