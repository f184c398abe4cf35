"""EfficientNet-B0…B5: parameter counts equal torchvision's, shapes, residuals, validation."""

from __future__ import annotations

import pytest
import torch

from models import get_model, get_spec, model_info
from models.efficientnet import EfficientNetSpec

# torchvision.models.efficientnet_b{0..5}: sum of parameter numel, and the native resolution
TORCHVISION = {
    "efficientnet_b0": (5_288_548, 224),
    "efficientnet_b1": (7_794_184, 240),
    "efficientnet_b2": (9_109_994, 260),
    "efficientnet_b3": (12_233_232, 300),
    "efficientnet_b4": (19_341_616, 380),
    "efficientnet_b5": (30_389_784, 456),
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_params_equal_torchvision(name: str) -> None:
    params, resolution = TORCHVISION[name]
    assert sum(p.numel() for p in get_model(name).parameters()) == params
    assert model_info(name).resolution == resolution
    assert model_info(name).family == "efficientnet"


def test_forward_shape_and_residuals() -> None:
    model = get_model("efficientnet_b0", num_classes=10).eval()
    with torch.inference_mode():
        assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 10)
    blocks = [b for stage in model.stages for b in stage]
    assert len(blocks) == 16
    # residual only where stride 1 and w_in == w_out: the repeated blocks of each stage (16 - 7 first blocks)
    assert sum(b.has_skip for b in blocks) == 9


def test_invalid_spec_names_the_field() -> None:
    with pytest.raises(ValueError, match="kernels"):
        EfficientNetSpec(kernels=(3, 3, 4, 3, 5, 5, 3))
    with pytest.raises(ValueError, match="strides must have one entry per stage"):
        EfficientNetSpec(strides=(1, 2))
    with pytest.raises(ValueError, match="head_w"):
        get_spec("efficientnet_b0", head_w=0)
