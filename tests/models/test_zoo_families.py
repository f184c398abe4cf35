"""Family-specific checks for DenseNet, ShuffleNet v1/v2, MobileNet v1/v2 and GoogLeNet/Inception v3.

Complexity references are the numbers published in each paper (multiply-adds of conv and FC layers at 224 px) or
in torchvision's model table; they are independent of this code.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch.utils.flop_counter import FlopCounterMode

import models
from models.blocks import ChannelShuffle, channel_shuffle
from models.mobilenet import make_divisible
from models.shufflenet import ShuffleNetV1Spec, ShuffleV1Unit, ShuffleV2Unit

pytestmark = pytest.mark.usefixtures("one_thread")


def fvcore_conv_fc_macs(model: torch.nn.Module, resolution: int) -> int:
    """Multiply-adds of conv and linear layers (fvcore counts one MAC as one "flop"); BN/pool excluded as papers do."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings are irrelevant to counting
        analysis = FlopCountAnalysis(model.eval(), torch.randn(1, 3, resolution, resolution))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = analysis.by_operator()
    return by_op["conv"] + by_op.get("linear", 0)


def torch_conv_fc_macs(model: torch.nn.Module, resolution: int) -> int:
    """Same quantity from ``torch.utils.flop_counter`` (which counts 2 flops per MAC, conv and matmul only)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.randn(1, 3, resolution, resolution))
    return counter.get_total_flops() // 2


# ---- channel shuffle -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "groups"), [(12, 3), (8, 2), (16, 4), (24, 8)])
def test_channel_shuffle_interleaves_groups(channels: int, groups: int) -> None:
    per_group = channels // groups
    ids = torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1)
    out = channel_shuffle(ids, groups).flatten().long().tolist()
    # Output takes channel j of group 0, of group 1, ..., then channel j+1 of each group (ShuffleNet Fig. 1c).
    assert out == [g * per_group + j for j in range(per_group) for g in range(groups)]
    assert sorted(out) == list(range(channels))  # a permutation: nothing lost or duplicated
    # Shuffling with the transposed grouping undoes it.
    assert torch.equal(channel_shuffle(channel_shuffle(ids, groups), per_group), ids)
    assert torch.equal(ChannelShuffle(groups)(ids), channel_shuffle(ids, groups))


def test_channel_shuffle_keeps_spatial_content() -> None:
    x = torch.randn(2, 6, 5, 7)
    out = channel_shuffle(x, 3)
    assert torch.equal(out[:, 1], x[:, 2])  # channel 1 of the output is channel 0 of group 1 (index 2)
    assert torch.equal(out[:, 2], x[:, 4])


# ---- ShuffleNet v1 ---------------------------------------------------------------------------------------------

# Zhang et al. 2018, Table 1 ("Complexity", MFLOPs = million multiply-adds) for 1.0× at 224 px, and Table 8 for
# ShuffleNet 2× (g=3) 524 M and 0.5× (g=3) 38 M. Our layout lands within 1.2 % of each.
SHUFFLENET_V1_PAPER_MMACS = {
    "shufflenet_v1_g1": 143,
    "shufflenet_v1_g2": 140,
    "shufflenet_v1_g3": 137,
    "shufflenet_v1_g4": 133,
    "shufflenet_v1_g8": 137,
    "shufflenet_v1_g3_x2_0": 524,
    "shufflenet_v1_g3_x0_5": 38,
}


@pytest.mark.parametrize("name", sorted(SHUFFLENET_V1_PAPER_MMACS))
def test_shufflenet_v1_macs_match_paper(name: str) -> None:
    macs = fvcore_conv_fc_macs(models.get_model(name), 224)
    assert macs / 1e6 == pytest.approx(SHUFFLENET_V1_PAPER_MMACS[name], rel=0.02)


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8])
def test_shufflenet_v1_stage_channels_follow_table1(groups: int) -> None:
    table1 = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088), 8: (384, 768, 1536)}
    stem, stages = ShuffleNetV1Spec(groups=groups).channels()
    assert (stem, stages) == (24, table1[groups])
    model = models.get_model(f"shufflenet_v1_g{groups}")
    assert model.head.fc.in_features == table1[groups][-1]
    first_pw = model.stages[0][0].branch[0][0]  # stage 2, unit 1, first pointwise conv
    later_pw = model.stages[0][1].branch[0][0]
    assert first_pw.groups == 1 and later_pw.groups == groups  # paper §3.3: first one is not grouped


@pytest.mark.parametrize("width", [0.25, 0.5, 1.5, 2.0, 0.8])
def test_shufflenet_v1_widths_keep_groups_divisible(width: float) -> None:
    for groups in (1, 2, 3, 4, 8):
        stem, stages = ShuffleNetV1Spec(groups=groups, width_mult=width).channels()
        assert stem % groups == 0 and all(c % (4 * groups) == 0 for c in stages)


def test_shufflenet_v1_stride2_unit_concatenates_pooled_input() -> None:
    unit = ShuffleV1Unit(24, 240, stride=2, groups=3, first_groups=1).eval()
    x = torch.randn(1, 24, 16, 16)
    with torch.no_grad():
        out = unit(x)
    assert out.shape == (1, 240, 8, 8)
    pooled = torch.nn.functional.avg_pool2d(x, 3, 2, 1)
    torch.testing.assert_close(out[:, :24], torch.relu(pooled))


def test_shufflenet_v1_rejects_unknown_groups() -> None:
    with pytest.raises(ValueError, match=r"groups.*allowed"):
        ShuffleNetV1Spec(groups=6)


# ---- ShuffleNet v2 ---------------------------------------------------------------------------------------------


def test_shufflenet_v2_unit_passes_half_the_channels_through() -> None:
    unit = ShuffleV2Unit(116, 116, stride=1).eval()
    x = torch.randn(1, 116, 8, 8)
    with torch.no_grad():
        out = unit(x)
    # Channel split keeps the first half untouched; the g=2 shuffle puts it on the even output channels.
    assert torch.equal(out[:, 0::2], x[:, :58])


def test_shufflenet_v2_macs_match_torchvision() -> None:
    # torchvision model table: ShuffleNet_V2_X1_0 "GFLOPS" 0.14 (multiply-adds); the paper's Table 8: 146 M.
    macs = torch_conv_fc_macs(models.get_model("shufflenet_v2_x1_0"), 224)
    assert macs / 1e6 == pytest.approx(146, rel=0.02)


# ---- MobileNet -------------------------------------------------------------------------------------------------

# Howard et al. 2017, Table 6 (width multiplier α at 224 px): million mult-adds, million params.
MOBILENET_V1_PAPER = {
    "mobilenet_v1": (569, 4.2),
    "mobilenet_v1_x0_75": (325, 2.6),
    "mobilenet_v1_x0_5": (149, 1.3),
    "mobilenet_v1_x0_25": (41, 0.5),
}


@pytest.mark.parametrize("name", sorted(MOBILENET_V1_PAPER))
def test_mobilenet_v1_matches_paper(name: str) -> None:
    mmacs, mparams = MOBILENET_V1_PAPER[name]
    model = models.get_model(name)
    assert torch_conv_fc_macs(model, 224) / 1e6 == pytest.approx(mmacs, rel=0.01)
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(mparams, abs=0.06)


def test_fvcore_and_torch_counters_agree() -> None:
    model = models.get_model("mobilenet_v1_x0_5")
    assert fvcore_conv_fc_macs(model, 128) == torch_conv_fc_macs(model, 128)


@pytest.mark.parametrize(("name", "paper_mmacs"), [("mobilenet_v2", 300), ("mobilenet_v2_x1_4", 585)])
def test_mobilenet_v2_macs_match_paper(name: str, paper_mmacs: int) -> None:
    # Sandler et al. 2018, Table 4 (1.0: 300 M) and Fig. 5 / Table 4 (1.4: 585 M) multiply-adds at 224 px.
    assert torch_conv_fc_macs(models.get_model(name), 224) / 1e6 == pytest.approx(paper_mmacs, rel=0.02)


@pytest.mark.parametrize(
    ("name", "last"), [("mobilenet_v2_x0_5", 1280), ("mobilenet_v2", 1280), ("mobilenet_v2_x1_4", 1792)]
)
def test_mobilenet_v2_last_channel_is_never_narrowed(name: str, last: int) -> None:
    assert models.get_model(name).head.fc.in_features == last


@pytest.mark.parametrize("value", [3.0, 7.9, 12.0, 16.0, 19.2, 44.8, 100.0, 1792.0])
def test_make_divisible(value: float) -> None:
    out = make_divisible(value, 8)
    assert out % 8 == 0 and out >= 8
    assert out >= 0.9 * value  # never rounds down by more than 10 %
    assert abs(out - value) <= 8


# ---- DenseNet --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "features"), [("densenet121", 1024), ("densenet161", 2208), ("densenet169", 1664), ("densenet201", 1920)]
)
def test_densenet_final_features_match_torchvision(name: str, features: int) -> None:
    # torchvision's classifier in_features for each DenseNet: checks growth/compression bookkeeping.
    with torch.device("meta"):
        model = models.get_model(name)
    assert model.classifier.in_features == features


def test_densenet_compression_override_changes_width() -> None:
    with torch.device("meta"):
        model = models.get_model("densenet121", compression=1.0)
    # No compression: 64 + 32·(6 + 12 + 24 + 16) channels reach the classifier.
    assert model.classifier.in_features == 64 + 32 * 58


# ---- GoogLeNet / Inception v3 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "resolution", "gmacs"), [("googlenet", 224, 1.50), ("inception_v3", 299, 5.71)])
def test_inception_macs_match_torchvision(name: str, resolution: int, gmacs: float) -> None:
    # torchvision model table "GFLOPS" column (multiply-adds): GoogLeNet 1.50, Inception_V3 5.71 (at 299 px).
    assert models.model_info(name).resolution == resolution
    assert torch_conv_fc_macs(models.get_model(name), resolution) / 1e9 == pytest.approx(gmacs, rel=0.01)


def test_inception_v3_runs_at_min_resolution() -> None:
    spec = models.get_spec("inception_v3")
    assert spec.min_resolution == 75
    with torch.no_grad():
        out = spec.build().eval()(torch.randn(1, 3, 75, 75))
    assert out.shape == (1, 1000)


def test_inception_convs_use_eps_0_001() -> None:
    for name in ("googlenet", "inception_v3"):
        with torch.device("meta"):
            model = models.get_model(name)
        eps = {m.eps for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
        assert eps == {0.001}
