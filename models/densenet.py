"""DenseNet (Huang et al. 2017, "Densely Connected Convolutional Networks"), DenseNet-BC.

Layout follows torchvision (pre-activation BN → ReLU → conv, bottleneck 1×1 of ``bn_size × growth`` channels,
transitions with compression 0.5, final BN), so parameter counts equal torchvision's
(``densenet121``: 7,978,856).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from models.blocks import check_range, conv_bn
from models.spec import register, spec_type


def _bn_relu_conv(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    # DenseNet uses pre-activation ordering (BN → ReLU → conv), unlike conv_bn's conv → BN → act.
    return [
        nn.BatchNorm2d(c_in),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
    ]


class DenseLayer(nn.Module):
    """BN-ReLU-1×1 conv (``bn_size·growth``) → BN-ReLU-3×3 conv (``growth``); input is all earlier maps."""

    def __init__(self, c_in: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_bn_relu_conv(c_in, bn_size * growth, 1), *_bn_relu_conv(bn_size * growth, growth, 3)
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:  # list of (B, c_i, H, W) → (B, growth, H, W)
        return self.body(torch.cat(features, 1))


class DenseBlock(nn.Module):
    """``depth`` dense layers; output = concatenation of the input and every layer's ``growth`` new maps."""

    def __init__(self, c_in: int, depth: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(c_in + i * growth, growth, bn_size) for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, c_in, H, W) → (B, c_in + depth·growth, H, W)
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-1×1 conv (compression) → 2×2/2 average pool."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(*_bn_relu_conv(c_in, c_out, 1), nn.AvgPool2d(2, 2))


@spec_type
@dataclass(frozen=True)
class DenseNetSpec:
    """DenseNet-BC: growth rate, layers per dense block, stem width, bottleneck factor, transition compression."""

    growth_rate: int = 32
    block_config: tuple[int, ...] = (6, 12, 24, 16)
    num_init_features: int = 64
    bn_size: int = 4  # bottleneck 1×1 conv has bn_size × growth_rate channels
    compression: float = 0.5  # transition keeps int(c × compression) channels (paper's θ)
    num_classes: int = 1000

    family: ClassVar[str] = "densenet"
    # Stem /4 and one /2 average pool per transition: 32 px leaves a 1×1 map for 4 blocks.
    min_resolution: ClassVar[int] = 32

    def __post_init__(self) -> None:
        check_range(self, "growth_rate", self.growth_rate, 1, 512)
        check_range(self, "len(block_config)", len(self.block_config), 1, 6)
        for d in self.block_config:
            check_range(self, "block_config[i]", d, 1, 128)
        check_range(self, "num_init_features", self.num_init_features, 1, 1024)
        check_range(self, "bn_size", self.bn_size, 1, 16)
        check_range(self, "compression", self.compression, 0.05, 1.0)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)

    def build(self) -> nn.Module:
        return DenseNet(self)


class DenseNet(nn.Module):
    """Stem (7×7/2 conv-BN-ReLU, 3×3/2 max pool) → dense blocks and transitions → BN-ReLU → pool + FC."""

    def __init__(self, spec: DenseNetSpec) -> None:
        super().__init__()
        c = spec.num_init_features
        layers: list[nn.Module] = [conv_bn(3, c, 7, 2), nn.MaxPool2d(3, 2, 1)]
        for i, depth in enumerate(spec.block_config):
            layers.append(DenseBlock(c, depth, spec.growth_rate, spec.bn_size))
            c += depth * spec.growth_rate
            if i != len(spec.block_config) - 1:
                layers.append(Transition(c, int(c * spec.compression)))
                c = int(c * spec.compression)
        layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


register("densenet121", DenseNetSpec(block_config=(6, 12, 24, 16)))
register("densenet161", DenseNetSpec(growth_rate=48, block_config=(6, 12, 36, 24), num_init_features=96))
register("densenet169", DenseNetSpec(block_config=(6, 12, 32, 32)))
register("densenet201", DenseNetSpec(block_config=(6, 12, 48, 32)))
