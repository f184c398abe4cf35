"""MobileNet v1 (Howard et al. 2017) and MobileNet v2 (Sandler et al. 2018).

v1 follows the paper's Table 1 (depthwise-separable convs with BN + ReLU, 1024-channel last layer, FC with bias):
``mobilenet_v1`` has 4,231,976 parameters and 569 M multiply-adds at 224 px. v2 follows torchvision's layout
(``_make_divisible`` channel rounding, last channel ``max(1280, 1280 × width)``), so ``mobilenet_v2`` has
torchvision's 3,504,872 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from models.blocks import ClassifierHead, check_range, conv_bn
from models.spec import register, spec_type

# MobileNet v1, Table 1: (output channels, stride) of each depthwise-separable layer after the 32-ch stem.
V1_LAYERS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
V1_STEM = 32

# MobileNet v2, Table 2: (expansion t, output channels c, repeats n, first stride s).
V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip
V2_STEM = 32
V2_LAST = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision/TF ``_make_divisible``: nearest multiple of ``divisor``, never more than 10 % below ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


@spec_type
@dataclass(frozen=True)
class MobileNetV1Spec:
    """MobileNet v1: width multiplier α (Table 1 channels × α)."""

    width_mult: float = 1.0
    num_classes: int = 1000

    family: ClassVar[str] = "mobilenet_v1"
    min_resolution: ClassVar[int] = 32  # total stride 32

    def __post_init__(self) -> None:
        check_range(self, "width_mult", self.width_mult, 0.1, 4.0)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def build(self) -> nn.Module:
        return MobileNetV1(self)


class MobileNetV1(nn.Module):
    """3×3/2 conv stem → 13 depthwise-separable layers (dw 3×3-BN-ReLU, pw 1×1-BN-ReLU) → pool + FC."""

    def __init__(self, spec: MobileNetV1Spec) -> None:
        super().__init__()
        c_in = int(V1_STEM * spec.width_mult)
        layers: list[nn.Module] = [conv_bn(3, c_in, 3, 2)]
        for c, stride in V1_LAYERS:
            c_out = int(c * spec.width_mult)
            layers.append(nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in), conv_bn(c_in, c_out, 1)))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(c_in, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.features(x))


class InvertedResidual(nn.Module):
    """1×1 expand (ReLU6, skipped when t = 1) → 3×3 depthwise (ReLU6) → 1×1 linear projection; residual if same."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(c_in * expand_ratio)
        layers: list[nn.Module] = [conv_bn(c_in, hidden, 1, act=nn.ReLU6)] if expand_ratio != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6), conv_bn(hidden, c_out, 1, act=None)]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, c_in, H, W) → (B, c_out, H/s, W/s)
        return x + self.conv(x) if self.use_residual else self.conv(x)


@spec_type
@dataclass(frozen=True)
class MobileNetV2Spec:
    """MobileNet v2: width multiplier, channel rounding divisor, classifier dropout."""

    width_mult: float = 1.0
    round_nearest: int = 8
    dropout: float = 0.2
    num_classes: int = 1000

    family: ClassVar[str] = "mobilenet_v2"
    min_resolution: ClassVar[int] = 32  # total stride 32

    def __post_init__(self) -> None:
        check_range(self, "width_mult", self.width_mult, 0.1, 4.0)
        check_range(self, "round_nearest", self.round_nearest, 1, 64)
        check_range(self, "dropout", self.dropout, 0.0, 0.99)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def build(self) -> nn.Module:
        return MobileNetV2(self)


class MobileNetV2(nn.Module):
    """3×3/2 conv stem → 17 inverted residuals → 1×1 conv to the last channel → pool + dropout + FC."""

    def __init__(self, spec: MobileNetV2Spec) -> None:
        super().__init__()
        w, d = spec.width_mult, spec.round_nearest
        c_in = make_divisible(V2_STEM * w, d)
        last = make_divisible(V2_LAST * max(1.0, w), d)  # the last layer is never narrowed (paper §5.1)
        layers: list[nn.Module] = [conv_bn(3, c_in, 3, 2, act=nn.ReLU6)]
        for t, c, n, s in V2_SETTINGS:
            c_out = make_divisible(c * w, d)
            for i in range(n):
                layers.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        layers.append(conv_bn(c_in, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(last, spec.num_classes, dropout=spec.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.features(x))


register("mobilenet_v1", MobileNetV1Spec())
for _w, _tag in ((0.75, "0_75"), (0.5, "0_5"), (0.25, "0_25")):
    register(f"mobilenet_v1_x{_tag}", MobileNetV1Spec(width_mult=_w))

register("mobilenet_v2", MobileNetV2Spec())
for _w, _tag in ((0.5, "0_5"), (0.75, "0_75"), (1.4, "1_4")):
    register(f"mobilenet_v2_x{_tag}", MobileNetV2Spec(width_mult=_w))
