"""Generic tests over the whole model registry: every registered model builds, runs and round-trips.

Parametrized over ``models.list_models()`` so that a newly registered family is tested automatically (timm style).
Reference parameter counts are torchvision's published numbers (an independent reference, not our own output).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import models

ALL_MODELS = models.list_models()
REPO_ROOT = Path(__file__).resolve().parents[2]

# torchvision model documentation ("Table of all available classification weights", #Params column); for
# googlenet/inception_v3 the count is with aux_logits=False, the form used for inference.
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_0": 2_278_604,
    "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_393_996,
    "mobilenet_v2": 3_504_872,
    "googlenet": 6_624_904,
    "inception_v3": 23_834_568,
}
# Not in torchvision: MobileNet v1 (Howard et al. 2017, Table 1 layout incl. BN affine params; paper: "4.2 M").
OTHER_REFERENCE_PARAMS = {"mobilenet_v1": 4_231_976}


pytestmark = pytest.mark.usefixtures("one_thread")


def count_params(name: str) -> int:
    """Parameters of a registered model, built on the meta device (no memory, no weight init)."""
    with torch.device("meta"):
        model = models.get_model(name)
    return sum(p.numel() for p in model.parameters())


def test_registry_is_populated() -> None:
    assert len(ALL_MODELS) >= 30
    assert sorted(set(ALL_MODELS)) == ALL_MODELS


@pytest.mark.parametrize("name", ALL_MODELS)
def test_forward_small_resolution(name: str) -> None:
    spec = models.get_spec(name)
    resolution = max(spec.min_resolution, 64)
    model = spec.build().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, resolution, resolution))
    assert out.shape == (2, spec.num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_spec_round_trip_and_hash(name: str) -> None:
    spec = models.get_spec(name)
    # Through real JSON, as a sweep task carries a spec to a worker process.
    data = json.loads(json.dumps(models.spec_to_dict(spec)))
    again = models.spec_from_dict(data)
    assert again == spec
    assert models.spec_hash(again) == models.spec_hash(spec)
    assert len(models.spec_hash(spec)) == 16
    # The hash depends on the spec: a changed field gives a different hash.
    assert models.spec_hash(models.replace_spec(spec, num_classes=spec.num_classes + 1)) != models.spec_hash(spec)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_family_and_metadata(name: str) -> None:
    info = models.model_info(name)
    assert isinstance(info.family, str) and info.family
    assert info.family == info.spec.family
    assert isinstance(info.spec.min_resolution, int) and 1 <= info.spec.min_resolution <= info.resolution
    assert info.spec.num_classes == 1000
    assert isinstance(info.spec, models.Spec) and models.min_resolution(info.spec) == info.spec.min_resolution


def test_one_resolution_check() -> None:
    spec = models.get_spec("inception_v3")
    models.check_resolution(spec, 75)
    with pytest.raises(ValueError, match="resolution 74 is too small for InceptionV3Spec; the minimum is 75"):
        models.check_resolution(spec, 74)
    assert models.min_resolution(type(spec)) == 75 and models.min_resolution(object()) == 1
    assert not isinstance(object(), models.Spec)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_bad_num_classes_names_the_field(name: str) -> None:
    with pytest.raises(ValueError, match="num_classes"):
        models.get_spec(name, num_classes=0)


def test_unknown_model_lists_close_matches() -> None:
    with pytest.raises(ValueError, match="resnet50") as exc:
        models.get_model("resnet5O")
    assert "unknown model" in str(exc.value)


def test_unknown_override_field() -> None:
    with pytest.raises(ValueError, match="num_classes"):  # the close match is suggested
        models.get_model("resnet18", num_clases=10)


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("resnet50", "groups", 0),
        ("densenet121", "growth_rate", 0),
        ("shufflenet_v1_g3", "groups", 5),
        ("shufflenet_v2_x1_0", "stage_channels", (24, 115, 232, 464, 1024)),
        ("mobilenet_v1", "width_mult", -1.0),
        ("mobilenet_v2", "width_mult", 0.0),
        ("googlenet", "dropout", 1.5),
        ("inception_v3", "dropout", -0.1),
    ],
)
def test_bad_field_value_names_the_field(name: str, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        models.get_spec(name, **{field: value})


def test_num_classes_override_changes_output() -> None:
    model = models.get_model("mobilenet_v2_x0_5", num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS | OTHER_REFERENCE_PARAMS))
def test_reference_param_counts(name: str) -> None:
    expected = (TORCHVISION_PARAMS | OTHER_REFERENCE_PARAMS)[name]
    assert count_params(name) == expected


def resnet50_params_by_hand() -> int:
    """ResNet-50 parameters from layer shapes (He et al. 2016, Table 1; v1.5 stride placement changes nothing)."""

    def conv(k: int, c_in: int, c_out: int) -> int:
        return k * k * c_in * c_out  # no bias: every conv is followed by BN

    def bn(c: int) -> int:
        return 2 * c  # affine weight and bias

    total = conv(7, 3, 64) + bn(64)  # stem
    c_in = 64
    for stage, depth in enumerate((3, 4, 6, 3)):
        planes = 64 * 2**stage
        c_out = 4 * planes
        for block in range(depth):
            total += conv(1, c_in, planes) + bn(planes)
            total += conv(3, planes, planes) + bn(planes)
            total += conv(1, planes, c_out) + bn(c_out)
            if block == 0:  # projection shortcut
                total += conv(1, c_in, c_out) + bn(c_out)
            c_in = c_out
    return total + c_in * 1000 + 1000  # FC weight and bias


def test_resnet50_params_match_hand_formula() -> None:
    by_hand = resnet50_params_by_hand()
    assert by_hand == TORCHVISION_PARAMS["resnet50"]
    assert count_params("resnet50") == by_hand


def test_cli_list_json_covers_the_zoo() -> None:
    # Depends on every family module registering its variants (ResNet, RegNet, EfficientNet, DenseNet,
    # ShuffleNet, MobileNet, Inception, ...): it passes once the whole zoo is in.
    proc = subprocess.run(
        [sys.executable, "-m", "profiler", "list", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = json.loads(proc.stdout)
    assert {r["name"] for r in rows} == set(ALL_MODELS)
    assert len(rows) >= 60
    assert len({r["family"] for r in rows}) >= 9
    assert all(isinstance(r["resolution"], int) and r["resolution"] > 0 for r in rows)
