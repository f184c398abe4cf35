"""profiler.counting: reference counts (pycls), fvcore == FlopCounterMode/2 == closed form, acts definition, CLI."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import models
from models.anynet import AnyNetSpec
from profiler.cli import main
from profiler.counting import CountingError, count, count_model
from profiler.counting.golden import read_golden

# pycls reference values (224×224, batch 1); pycls adds c_out MACs per bias, we do not (hence the 0.01 %).
REFERENCE = {
    "resnet50": {"macs": 4_089_185_256, "params": 25_557_032, "acts": 11_315_688},
    "regnetx_400mf": {"macs": 397_678_568, "params": 5_157_512, "acts": 3_143_272},
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_counts_match_pycls(name: str) -> None:
    if name not in models.list_models():
        pytest.fail(f"{name} is not registered")
    ref, c = REFERENCE[name], count_model(name)
    assert abs(c.macs - ref["macs"]) / ref["macs"] < 1e-4
    assert (c.params, c.acts) == (ref["params"], ref["acts"])


def _one_per_family() -> list[str]:
    """The cheapest model (fewest golden MACs) of every family: same block types as its big siblings, less time."""
    macs = {n: e["macs"] for n, e in read_golden(Path(__file__).parents[1] / "golden" / "counts.json").items()}
    best: dict[str, str] = {}
    for n in models.list_models():
        fam = models.model_info(n).family
        if fam not in best or macs.get(n, 0) < macs.get(best[fam], 0):
            best[fam] = n
    return sorted(best.values())


@pytest.mark.parametrize("name", _one_per_family())
def test_fvcore_equals_flop_counter_and_fake_method(name: str) -> None:
    res = max(64, models.model_info(name).spec.min_resolution)
    model = models.get_model(name).eval()
    ref = count(model, (1, 3, res, res))
    with torch.no_grad(), FlopCounterMode(display=False) as fc:  # real tensors: independent of our fake path
        model(torch.zeros(1, 3, res, res))
    assert ref.macs == fc.get_total_flops() // 2 > 0
    fast = count(model, (1, 3, res, res), method="torch")
    assert (fast.macs, fast.params, fast.acts, fast.acts_all) == (ref.macs, ref.params, ref.acts, ref.acts_all)
    assert [(r.name, r.macs, r.acts, r.output_shape) for r in fast.layers] == [
        (r.name, r.macs, r.acts, r.output_shape) for r in ref.layers
    ]
    # the per-module rows are each module's own share: they add up to the totals
    assert sum(r.macs for r in ref.layers) == ref.macs
    assert sum(r.params for r in ref.layers) == ref.params
    assert sum(r.acts for r in ref.layers) == ref.acts


def test_closed_form_equals_our_counter() -> None:
    """The closed form (``models.anynet``) and ``profiler.counting`` agree exactly, MACs included (neither counts
    biases; pycls counts the FC bias, see test_regnet). ``test_spaces`` binds the closed form to an independent
    fvcore + hook reference over many samples of every space; this binds it to the counter the tools use."""
    free = AnyNetSpec(  # unsorted widths, per-stage b and g, SE: every branch of the closed form
        depths=(1, 2, 1, 1),
        widths=(24, 48, 32, 64),
        bot_muls=(1.0, 0.5, 0.25, 1.0),
        group_ws=(8, 8, 8, 16),
        se_ratio=0.25,
    )
    regnet = min(models.sample("regnetx", 24, seed=0), key=lambda s: s.complexity(64)["params"])
    for spec, res in ((free, 33), (regnet, 64)):  # odd and even sizes: the (h - 1) // 2 + 1 rounding
        traced = count(spec.build().eval(), (1, 3, res, res))
        assert spec.complexity(res) == {"macs": traced.macs, "params": traced.params, "acts": traced.acts}, spec


class _Toy(nn.Module):
    """conv 3→8 (8×16×16) → BN → ReLU → maxpool (8×8×8) → conv → GAP → linear 8→5."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.pool(torch.relu(self.bn(self.conv(x)))))
        return self.fc(self.gap(y + y).flatten(1))


def test_acts_definition_on_a_toy_model(caplog: pytest.LogCaptureFixture, capsys) -> None:
    with caplog.at_level(logging.DEBUG):
        c = count(_Toy(), (2, 3, 16, 16))
    # convs 2·8·16·16 + 2·8·8·8, maxpool 2·8·8·8, fc 2·5; not BN, ReLU, add, global pool
    assert c.acts == 2 * (8 * 256 + 8 * 64 + 8 * 64 + 5)
    assert c.macs == 2 * (8 * 27 * 256 + 8 * 8 * 64 + 8 * 5)
    assert c.params == 216 + 16 + 72 + 45
    # acts_all: conv, bn, relu, maxpool, conv2, add, mean (GAP), addmm: views (flatten, t) not counted
    per_image = 8 * 256 * 3 + 8 * 64 * 3 + 8 + 5
    assert c.acts_all == 2 * per_image
    assert c.uncounted_ops == {"aten::max_pool2d": 1, "aten::add": 1}  # relu: fvcore ignores it
    assert capsys.readouterr() == ("", "") and not [r for r in caplog.records if "fvcore" in r.name]


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.conv2d(x, self.w)  # (B, 4, H, W): MACs counted, but no module for acts to see
        b = y.flatten(2)  # (B, 4, HW)
        return torch.baddbmm(b, b, b.transpose(1, 2) @ b)  # baddbmm: no fvcore rule


def test_uncounted_mac_ops_are_reported_and_strict_raises() -> None:
    c = count(_Functional(), (1, 3, 4, 4))
    assert c.uncounted_ops["aten::baddbmm"] == 1
    assert c.uncounted_ops["conv outside a module (not in acts)"] == 1
    with pytest.raises(CountingError, match="baddbmm"):
        count(_Functional(), (1, 3, 4, 4), strict=True)


class _Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Unflatten(1, (3, 5)))  # 4 channels cannot be 3×5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@dataclass(frozen=True)
class _BrokenSpec:
    num_classes: int = 1000
    min_resolution: ClassVar[int] = 8

    def build(self) -> nn.Module:
        return _Broken()


def test_untraceable_model_error_names_model_and_layer() -> None:
    with pytest.raises(CountingError, match=r"_BrokenSpec.*body\.1.*Unflatten"):
        count_model(_BrokenSpec(), resolution=8)


def test_count_model_checks_resolution_and_batch_scaling() -> None:
    with pytest.raises(ValueError, match="minimum is 32"):
        count_model("resnet18", resolution=16)
    with pytest.raises(ValueError, match="resnet50"):
        count_model("resnet5O")
    one, two = count_model("resnet18", 64), count_model("resnet18", 64, batch=3)
    assert (two.macs, two.acts, two.acts_all, two.params) == (3 * one.macs, 3 * one.acts, 3 * one.acts_all, one.params)
    model = models.get_model("resnet18")
    model.train()
    count(model, (1, 3, 32, 32))
    assert model.training  # mode restored


def test_cli_json_table_and_errors(capsys) -> None:
    assert main(["count", "resnet18", "--resolution", "64", "--batch", "2", "--json", "--method", "torch"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert {"model", "resolution", "batch", "macs", "params", "acts", "acts_all", "uncounted_ops"} <= set(obj)
    assert (obj["model"], obj["resolution"], obj["batch"]) == ("resnet18", 64, 2)
    one = count_model("resnet18", 64)
    assert obj["macs"] == 2 * one.macs
    assert obj["ops"] == one.ops > 0 and obj["bytes"] > one.bytes  # ops per inference; bytes grow with batch
    assert main(["count", "resnet18", "--resolution", "64", "--per-layer"]) == 0
    out = capsys.readouterr().out
    assert "GMACs" in out and "stem.0.0" in out and "1x64x32x32" in out
    assert main(["count", "resnet18", "--resolution", "64", "--csv"]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert row.startswith("resnet18,64,1,") and header.endswith(",ops,bytes")
    assert row.endswith(f",{one.ops},{one.bytes}")
    assert main(["count", "resnt18"]) == 2
    assert "resnet18" in capsys.readouterr().err
    assert main(["count", "resnet50", "--resolution", "16"]) == 2
    assert "minimum is 32" in capsys.readouterr().err


def test_cli_space_reports_rate(capsys) -> None:
    assert main(["count", "--space", "anynetx_e", "--samples", "50", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["samples"] == 50 and obj["samples_per_s"] > 0 and obj["mean_macs"] > 0
    assert main(["count", "--space", "anynetx_z"]) == 2


def test_one_model_counts_with_the_dispatch_counter_by_default_fvcore_on_request(capsys) -> None:
    """fvcore's tracer ran 351 s for resnet50 at 10000 px; the dispatch counter gives its numbers (issue #27)."""
    assert main(["count", "resnet18", "--resolution", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "torch"
    assert main(["count", "resnet18", "--resolution", "64", "--json", "--cross-check"]) == 0
    cap = capsys.readouterr()
    macs = json.loads(cap.out)["macs"]
    assert f"cross-check: fvcore macs {macs:,} == torch macs {macs:,}" in cap.err


def test_a_long_count_says_what_it_is_doing(capsys, monkeypatch) -> None:
    import time

    import profiler.commands.cmd_count as cc

    with cc._progress("counting x", after_s=0.05, every_s=0.05):
        time.sleep(0.3)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and all(line.startswith("counting x: ") and "s so far" in line for line in lines)
    with cc._progress("counting y", after_s=5.0):  # a quick count prints nothing
        pass
    assert capsys.readouterr().err == ""
