"""ResNet (He et al. 2016), ResNeXt (Xie et al. 2017, grouped 3×3 conv) and SE variants (Hu et al. 2018).

Layout follows torchvision's "ResNet v1.5" (stride on the 3×3 conv), so parameter counts equal torchvision's
(``resnet50``: 25,557,032) and pycls's ResNe(X)t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from models.blocks import ClassifierHead, SqueezeExcite, check_choice, check_range, conv_bn
from models.spec import register, spec_type


class BasicBlock(nn.Module):
    """Two 3×3 convs; used by ResNet-18/34."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int, groups: int, width: int, se_ratio: float) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.conv1 = conv_bn(c_in, planes, 3, stride)
        self.conv2 = conv_bn(planes, c_out, 3, act=None)
        self.se = SqueezeExcite(c_out, int(c_out * se_ratio)) if se_ratio else nn.Identity()
        self.downsample = conv_bn(c_in, c_out, 1, stride, act=None) if stride != 1 or c_in != c_out else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.se(self.conv2(self.conv1(x))) + shortcut)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (grouped for ResNeXt) → 1×1 expand ×4, optional SE before the residual add."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int, groups: int, width: int, se_ratio: float) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.conv1 = conv_bn(c_in, width, 1)
        self.conv2 = conv_bn(width, width, 3, stride, groups=groups)
        self.conv3 = conv_bn(width, c_out, 1, act=None)
        self.se = SqueezeExcite(c_out, int(c_out * se_ratio)) if se_ratio else nn.Identity()
        self.downsample = conv_bn(c_in, c_out, 1, stride, act=None) if stride != 1 or c_in != c_out else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.se(self.conv3(self.conv2(self.conv1(x)))) + shortcut)


@spec_type
@dataclass(frozen=True)
class ResNetSpec:
    """ResNet / ResNeXt / SE-ResNe(X)t: block type, blocks per stage, cardinality and group width."""

    block: str = "bottleneck"
    depths: tuple[int, int, int, int] = (3, 4, 6, 3)
    groups: int = 1  # cardinality (ResNeXt "32" in 32x4d)
    width_per_group: int = 64  # ResNeXt "4d"
    se_ratio: float = 0.0  # SE squeeze = channels × se_ratio (SENet uses 1/16)
    num_classes: int = 1000

    min_resolution: ClassVar[int] = 32

    def __post_init__(self) -> None:
        check_choice(self, "block", self.block, ("basic", "bottleneck"))
        if len(self.depths) != 4:
            raise ValueError(f"ResNetSpec.depths must have 4 entries, got {self.depths!r}")
        for d in self.depths:
            check_range(self, "depths[i]", d, 1, 64)
        check_range(self, "groups", self.groups, 1, 256)
        check_range(self, "width_per_group", self.width_per_group, 1, 512)
        check_range(self, "se_ratio", self.se_ratio, 0.0, 1.0)
        check_range(self, "num_classes", self.num_classes, 1, 100_000)
        if self.block == "basic" and (self.groups != 1 or self.width_per_group != 64):
            raise ValueError("ResNetSpec: the basic block supports only groups=1 and width_per_group=64")

    @property
    def family(self) -> str:
        base = "resnext" if self.groups > 1 else "resnet"
        return f"se_{base}" if self.se_ratio else base

    def build(self) -> nn.Module:
        return ResNet(self)


class ResNet(nn.Module):
    """Stem (7×7/2 conv, 3×3/2 max pool) → 4 stages → global pool + FC."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        block = Bottleneck if spec.block == "bottleneck" else BasicBlock
        self.stem = nn.Sequential(conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], 64
        for i, depth in enumerate(spec.depths):
            planes = 64 * 2**i
            width = int(planes * spec.width_per_group / 64) * spec.groups
            blocks = []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(block(c_in, planes, stride, spec.groups, width, spec.se_ratio))
                c_in = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(c_in, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) → (B, num_classes)
        return self.head(self.stages(self.stem(x)))


_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

for _d, _ds in _DEPTHS.items():
    register(f"resnet{_d}", ResNetSpec(block="basic" if _d < 50 else "bottleneck", depths=_ds))
for _d in (50, 101, 152):
    register(f"resnext{_d}_32x4d", ResNetSpec(depths=_DEPTHS[_d], groups=32, width_per_group=4))
register("se_resnet50", ResNetSpec(depths=_DEPTHS[50], se_ratio=1 / 16))
register("se_resnext50_32x4d", ResNetSpec(depths=_DEPTHS[50], groups=32, width_per_group=4, se_ratio=1 / 16))
